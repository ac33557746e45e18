// Enrollment benchmarks: `npm run bench`. Starts a real gateway (SQLite file,
// generated CA) on 127.0.0.1 and measures what the gateway does per SCEP
// enrollment: HTTP, pkiMessage verify + decrypt, CRP checks, issuance, the
// database transaction and the signed, encrypted CertRep. The device's work
// (key generation, CSR, the signed request) is done before the clock starts;
// every answer is decoded and checked afterwards.
// Options: BENCH_N (enrollments, default 200), BENCH_CONCURRENCY (default 8).
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { readCertRep, writePkiRequest } from '../src/scep/codec/index.js';
import { softwareKey } from '../src/x509/software-key.js';
import { buildCsr, generateDeviceKey, getCaCerts, sendPkiMessage } from '../src/sim/scep-client.js';
import { startTestGateway } from '../test/helpers/gateway.js';
import * as x509 from '@peculiar/x509';
import { issuanceBenchmark } from './issuance.js';
import { ocspBenchmark } from './ocsp.js';
import { pkcs11Benchmark } from './pkcs11.js';

const N = Number(process.env.BENCH_N ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);

const t = await startTestGateway();
try {
  const device = await t.api.ok('POST', '/devices', { name: 'bench-device', platform: 'windows' });
  const profile = await t.api.ok('POST', '/profiles', { name: 'bench', scope: 'device', subjectName: 'CN={{DeviceName}},O=Bench' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
  const { ra } = await getCaCerts(t.scepUrl);

  // Device side, untimed: a few keys reused, one CSR and signed request per enrollment.
  const keys = await Promise.all(Array.from({ length: Math.min(N, 16) }, () => generateDeviceKey('RSA', 2048)));
  const signers = await Promise.all(
    keys.map(async (key) => {
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: '01',
        name: 'CN=bench-device, O=Bench',
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 3600_000),
        keys: key.keys,
        signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      });
      return { certificate: new Uint8Array(cert.rawData), key: softwareKey(key.keyObject) };
    }),
  );
  const requests: { der: Uint8Array; signer: (typeof signers)[number] }[] = [];
  for (let i = 0; i < N; i++) {
    const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    const csr = await buildCsr(keys[i % keys.length]!, { subject: 'CN=bench-device, O=Bench', challenge });
    const signer = signers[i % signers.length]!;
    const der = await writePkiRequest({ messageType: 'PKCSReq', transactionId: randomBytes(16).toString('hex'), csr, signer, recipient: ra, cipher: 'aes-256-cbc', digest: 'sha256' });
    requests.push({ der, signer });
  }

  const latencies: number[] = [];
  const answers: Uint8Array[] = new Array(N);
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const rssBefore = process.memoryUsage().rss;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        const i = next++;
        const t0 = performance.now();
        answers[i] = await sendPkiMessage(t.scepUrl, requests[i]!.der);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const rssGrowth = process.memoryUsage().rss - rssBefore;

  let failures = 0;
  for (let i = 0; i < N; i++) {
    const rep = await readCertRep(answers[i]!, requests[i]!.signer, ra);
    if (rep.status !== 'SUCCESS' || rep.certificates.length === 0) failures++;
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1));
  const issued = (await t.api.ok('GET', `/certificates?deviceId=${device.id}`)).length;
  console.log(
    JSON.stringify(
      {
        benchmark: 'SCEP PKCSReq through the CRP to an issued, recorded certificate (gateway side; requests prebuilt)',
        enrollments: N,
        concurrency: CONCURRENCY,
        failures,
        recordedCertificates: issued,
        perSecond: Number((N / seconds).toFixed(1)),
        latencyMs: { p50: pct(50), p95: pct(95), p99: pct(99) },
        cpuMsPerEnrollment: Number(((cpu.user + cpu.system) / 1000 / N).toFixed(2)),
        rssGrowthMiB: Number((rssGrowth / 2 ** 20).toFixed(1)),
      },
      null,
      2,
    ),
  );
  if (failures > 0 || issued !== N) process.exitCode = 1;
  const ocsp = await ocspBenchmark(t, profile.id, device.id);
  console.log(JSON.stringify(ocsp, null, 2));
  if (ocsp.results.some((r) => r.failures > 0)) process.exitCode = 1;
} finally {
  await t.stop();
}
console.log(JSON.stringify(await issuanceBenchmark(), null, 2));
console.log(JSON.stringify(await pkcs11Benchmark(), null, 2));
