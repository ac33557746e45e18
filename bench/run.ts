// Enrollment benchmarks: `npm run bench`. Starts a real gateway (SQLite file,
// generated CA) on 127.0.0.1 and drives full SCEP enrollments through the CRP
// with the device-side client. Device keys are generated before the clock
// starts: key generation is the device's cost, not the gateway's.
// Options: BENCH_N (enrollments per run, default 200), BENCH_CONCURRENCY (default 8).
import { performance } from 'node:perf_hooks';
import { generateDeviceKey, scepEnroll } from '../src/sim/scep-client.js';
import { startTestGateway } from '../test/helpers/gateway.js';

const N = Number(process.env.BENCH_N ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);

const t = await startTestGateway();
try {
  const device = await t.api.ok('POST', '/devices', { name: 'bench-device', platform: 'windows' });
  const profile = await t.api.ok('POST', '/profiles', { name: 'bench', scope: 'device', subjectName: 'CN={{DeviceName}},O=Bench' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });

  const keys = await Promise.all(Array.from({ length: Math.min(N, 32) }, () => generateDeviceKey('RSA', 2048)));
  const challenges: string[] = [];
  for (let i = 0; i < N; i++) challenges.push((await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge);

  const latencies: number[] = [];
  let failures = 0;
  let next = 0;
  const rssBefore = process.memoryUsage().rss;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        const i = next++;
        const t0 = performance.now();
        const r = await scepEnroll({ scepUrl: t.scepUrl, challenge: challenges[i], subject: 'CN=bench-device, O=Bench', key: keys[i % keys.length] });
        latencies.push(performance.now() - t0);
        if (r.status !== 'SUCCESS') failures++;
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1);
  const issued = (await t.api.ok('GET', `/certificates?deviceId=${device.id}`)).length;
  console.log(
    JSON.stringify(
      {
        benchmark: 'scep-enroll (GetCACert + PKCSReq, client and server in one process)',
        enrollments: N,
        concurrency: CONCURRENCY,
        failures,
        recordedCertificates: issued,
        perSecond: Number((N / seconds).toFixed(1)),
        latencyMs: { p50: pct(50), p95: pct(95), p99: pct(99) },
        rssGrowthMiB: Number(((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(1)),
      },
      null,
      2,
    ),
  );
  if (failures > 0 || issued !== N) process.exitCode = 1;
} finally {
  await t.stop();
}
