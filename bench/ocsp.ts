// OCSP responder benchmarks (part of `npm run bench`): throughput and CPU per
// response over real HTTP (POST /ocsp) on the running bench gateway, for
//   - cached good: no nonce, answered from the cache (a row read, no signature),
//   - nonce'd good: signed fresh every time (RSA-2048 responder key),
//   - revoked: no nonce, cached like good.
// and the same three through OcspResponder.respond() alone (no HTTP, no
// client), so the responder's own cost is visible next to the HTTP stack's.
// CPU is this process's (gateway and client share it). Every answer is decoded
// and its status checked afterwards.
// Options: BENCH_OCSP_N (requests per case, default 2000), BENCH_CONCURRENCY (default 8).
import { randomBytes, X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { scepEnroll } from '../src/sim/scep-client.js';
import type { TestGateway } from '../test/helpers/gateway.js';
import { decodeResponse, ocspRequest } from '../test/ca/ocsp/helpers.js';

const N = Number(process.env.BENCH_OCSP_N ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);

interface Case {
  name: string;
  request: () => Uint8Array;
  expect: 'good' | 'revoked';
}

export async function ocspBenchmark(t: TestGateway, profileId: string, deviceId: string) {
  const issuer = t.gw.authorities.current.certificate;
  const enroll = async () => {
    const { challenge } = await t.api.ok('POST', '/challenges', { profileId, deviceId });
    const r = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=bench-device, O=Bench', challenge });
    return new X509Certificate(r.certificate!).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
  };
  const good = await enroll();
  const revoked = await enroll();
  await t.api.ok('POST', `/certificates/${revoked}/revoke`, { reason: 'keyCompromise' }, 200);
  const cases: Case[] = [
    { name: 'cached good (no nonce)', request: () => ocspRequest({ issuer, serial: good }), expect: 'good' },
    { name: "nonce'd good (signed per request)", request: () => ocspRequest({ issuer, serial: good, nonce: randomBytes(16) }), expect: 'good' },
    { name: 'revoked (no nonce, cached)', request: () => ocspRequest({ issuer, serial: revoked }), expect: 'revoked' },
  ];
  const url = `${t.url}/ocsp`;
  const overHttp = async (der: Uint8Array) => {
    const res = await fetch(url, { method: 'POST', body: der, headers: { 'content-type': 'application/ocsp-request' } });
    return new Uint8Array(await res.arrayBuffer());
  };
  const direct = async (der: Uint8Array) => (await t.gw.ocsp.respond(der)).der;

  const results = [];
  for (const [via, send] of [['HTTP POST /ocsp', overHttp], ['OcspResponder.respond()', direct]] as const) {
    for (const c of cases) results.push({ via, ...(await measure(c, send)) });
  }
  return { benchmark: `OCSP responder, ${N} requests per case, concurrency ${CONCURRENCY} (CPU: the one process running gateway and client)`, results };
}

async function measure(c: Case, send: (der: Uint8Array) => Promise<Uint8Array>) {
  const requests = Array.from({ length: N }, c.request); // untimed, like the devices' work in run.ts
  await send(requests[0]!); // warm the cache
  const answers: Uint8Array[] = new Array(N);
  const latencies: number[] = [];
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        const i = next++;
        const t0 = performance.now();
        answers[i] = await send(requests[i]!);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const failures = answers.filter((a) => {
    const r = decodeResponse(a);
    return r.status !== 0 || r.single[0]?.status !== c.expect;
  }).length;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => Number(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(2));
  return {
    case: c.name,
    failures,
    perSecond: Math.round(N / seconds),
    latencyMs: { p50: pct(50), p99: pct(99) },
    cpuMsPerResponse: Number(((cpu.user + cpu.system) / 1000 / N).toFixed(3)),
  };
}
