// `npm run bench -- --soak SECONDS`: mixed load at concurrency 64 for a fixed
// time: 3 of 4 workers enroll over SCEP (a request prebuilt per enrollment,
// refilled in the background), 1 of 4 asks the static answers a device asks
// before enrolling (GetCACaps, GetCACert) and /healthz. Reports errors (must
// be 0; a 503 the client retries after is counted apart) and the gateway's RSS
// every 10 s (must stay flat).
import { performance } from 'node:perf_hooks';
import { readCertRep } from '../../src/scep/codec/index.js';
import { getOk } from './load.js';
import { deviceKeys, prebuild, recipientOf, type Prebuilt } from './scep-load.js';
import type { ServerProcess } from './server-process.js';

export async function soak(o: { gw: ServerProcess; scepUrl: string; mint: () => Promise<string>; seconds: number; concurrency: number }) {
  const recipient = await recipientOf(o.scepUrl);
  const keys = await deviceKeys(16);
  const pool: Prebuilt[] = await prebuild({ n: 256, recipient, keys, subject: 'CN=bench-device, O=Bench', challenge: o.mint });
  const end = performance.now() + o.seconds * 1000;
  let refilling: Promise<void> | null = null;
  const refill = () => {
    if (refilling || pool.length > 128 || performance.now() >= end) return;
    refilling = prebuild({ n: 64, recipient, keys, subject: 'CN=bench-device, O=Bench', challenge: o.mint })
      .then((more) => void pool.push(...more))
      .catch((e: Error) => error(`prebuilding requests: ${e.message}`))
      .finally(() => {
        refilling = null;
      });
  };
  let operations = 0;
  let enrollments = 0;
  let errors = 0;
  let busy = 0;
  const firstErrors: string[] = [];
  const error = (m: string) => {
    errors++;
    if (firstErrors.length < 5) firstErrors.push(m);
  };
  const rss: { t: number; rssMiB: number; cpuMs: number }[] = [];
  const t0 = performance.now();
  const sample = () => rss.push({ t: Math.round((performance.now() - t0) / 1000), rssMiB: Math.round(o.gw.rssMiB().now), cpuMs: o.gw.cpuMs() });
  sample();
  const timer = setInterval(sample, 10_000);
  await Promise.all(
    Array.from({ length: o.concurrency }, async (_, w) => {
      while (performance.now() < end) {
        operations++;
        try {
          if (w % 4 === 3) {
            await getOk(`${o.scepUrl}?operation=${operations % 2 ? 'GetCACaps' : 'GetCACert'}`);
            await getOk(`${o.scepUrl.replace(/\/certsrv.*$/, '')}/healthz`);
            continue;
          }
          const req = pool.shift();
          refill();
          if (!req) {
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          const res = await fetch(`${o.scepUrl}?operation=PKIOperation`, { method: 'POST', body: req.der, headers: { 'content-type': 'application/x-pki-message' } });
          const body = new Uint8Array(await res.arrayBuffer());
          if (res.status === 503) {
            busy++;
            pool.push(req); // the client retries later
            await new Promise((r) => setTimeout(r, 1000));
            continue;
          }
          if (res.status !== 200) throw new Error(`PKIOperation: HTTP ${res.status}`);
          const rep = await readCertRep(body, req.signer, recipient);
          if (rep.status !== 'SUCCESS') throw new Error(`CertRep ${rep.status} ${rep.failInfo ?? ''}`);
          enrollments++;
        } catch (e) {
          error((e as Error).message);
        }
      }
    }),
  );
  clearInterval(timer);
  await refilling; // nothing may still talk to the gateway once it is stopped
  sample();
  return { seconds: o.seconds, concurrency: o.concurrency, operations, enrollments, errors, busyRetried: busy, firstErrors, rss };
}
