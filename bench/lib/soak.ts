// `npm run bench -- --soak SECONDS`: mixed load at concurrency 64 for a fixed
// time. Of every 4 workers, 2 enroll over SCEP (a request prebuilt per
// enrollment, refilled in the background), 1 checks in (Android policy
// fetches, 200 and 304, Windows OMA-DM sessions and Apple Idle connects,
// through the device simulators), 1 asks the static answers a device asks
// before enrolling (GetCACaps, GetCACert) and /healthz. Reports errors (must
// be 0; a 503 the client retries after is counted apart) and, every 10 s, the
// gateway's RSS (from /proc) and its V8 heap and external memory (from its own
// /metrics), and checks that memory levels off (flatness(), below).
import { performance } from 'node:perf_hooks';
import { readCertRep } from '../../src/scep/codec/index.js';
import { getOk } from './load.js';
import { deviceKeys, prebuild, recipientOf, type Prebuilt } from './scep-load.js';
import { metricsText, metricValue, type ServerProcess } from './server-process.js';
import type { SoakCheckins } from './soak-checkins.js';

export interface SoakSample {
  t: number;
  rssMiB: number;
  cpuMs: number;
  /** V8 heap used / external (Buffers, better-sqlite3 is not in it), MiB; null when /metrics could not be read. */
  heapUsedMiB: number | null;
  /** V8 heap used right after the gateway's last major collection (mdmgw_nodejs_heap_used_after_major_gc_bytes), MiB; null when not read or none yet. */
  heapAfterGcMiB?: number | null;
  /** V8 heap committed (what RSS holds for it), MiB. */
  heapTotalMiB: number | null;
  externalMiB: number | null;
  operations: number;
  errors: number;
}

/** How much the last third of a soak may exceed its second third (RSS peak, heap low point) and still count as flat. */
export const FLATNESS_TOLERANCE = 0.1;
/**
 * The heap low point is the gateway's heap after its last major collection
 * (mdmgw_nodejs_heap_used_after_major_gc_bytes); without it, a 10-second
 * sample of the heap used, which lands anywhere from just after a collection
 * to 10 s of allocation later (15 to 25 MiB at the soak's rate). Either may
 * exceed by this much: seen 55.8 -> 61.5 MiB (sampled) between thirds of a
 * 300 s run with no growth.
 */
export const HEAP_LOW_SLACK_MIB = 8;

export interface Flatness {
  /** Max RSS and lowest V8 heap used (the post-GC floor, as sampled) in the second and the last third of the run, MiB. */
  rssMax: [second: number, last: number];
  heapLow: [second: number, last: number] | null;
  flat: boolean;
  verdict: string;
}

/**
 * Flat: the last third's RSS peak and heap low point are within
 * FLATNESS_TOLERANCE of the second third's (the low point: or within HEAP_LOW_SLACK_MIB) (the first third is start-up: JIT,
 * caches filling, the heap growing to its working size). A leak climbs
 * between thirds and fails; the sawtooth of the major-GC cycle repeats in
 * both and passes.
 */
export function flatness(samples: readonly SoakSample[]): Flatness {
  const end = samples.at(-1)?.t ?? 0;
  const third = (k: number) => samples.filter((x) => x.t >= (end * k) / 3 && (k === 2 || x.t < (end * (k + 1)) / 3));
  const [second, last] = [third(1), third(2)];
  const rssMax: [number, number] = [Math.max(...second.map((x) => x.rssMiB)), Math.max(...last.map((x) => x.rssMiB))];
  // The heap after a major collection when the gateway reports it (the true floor), else the sampled heap used.
  const floorOf = (x: SoakSample) => (x.heapAfterGcMiB ? x.heapAfterGcMiB : x.heapUsedMiB);
  const lows = (xs: SoakSample[]) => xs.map(floorOf).filter((v): v is number => v !== null);
  const heapLow: [number, number] | null = lows(second).length && lows(last).length ? [Math.min(...lows(second)), Math.min(...lows(last))] : null;
  const within = ([a, b]: [number, number], slack = 0) => b <= Math.max(a * (1 + FLATNESS_TOLERANCE), a + slack);
  const flat = second.length > 0 && last.length > 0 && within(rssMax) && (heapLow === null || within(heapLow, HEAP_LOW_SLACK_MIB));
  const pct = ([a, b]: [number, number]) => `${a} -> ${b} MiB (${b >= a ? '+' : ''}${Math.round(((b - a) / a) * 100)}%)`;
  const verdict = `${flat ? 'flat' : 'NOT flat'}: RSS peak, second third -> last third ${pct(rssMax)}; heap used low point ${heapLow ? pct(heapLow) : 'not read'}; tolerance ${FLATNESS_TOLERANCE * 100}% (heap low point: or ${HEAP_LOW_SLACK_MIB} MiB)`;
  return { rssMax, heapLow, flat, verdict };
}

/** The gateway's own process_* and nodejs_* gauges (prom-client default metrics, prefix mdmgw_). */
async function memoryGauges(url: string, adminToken: string | undefined): Promise<{ heapUsedMiB: number | null; heapTotalMiB: number | null; externalMiB: number | null; heapAfterGcMiB?: number | null }> {
  if (!adminToken) return { heapUsedMiB: null, heapTotalMiB: null, externalMiB: null };
  try {
    const text = await metricsText({ url, adminToken });
    const gauge = (name: string) => {
      const bytes = metricValue(text, name);
      return bytes === null ? null : Math.round((bytes / 1048576) * 10) / 10;
    };
    return {
      heapUsedMiB: gauge('mdmgw_nodejs_heap_size_used_bytes'),
      heapTotalMiB: gauge('mdmgw_nodejs_heap_size_total_bytes'),
      externalMiB: gauge('mdmgw_nodejs_external_memory_bytes'),
      heapAfterGcMiB: gauge('mdmgw_nodejs_heap_used_after_major_gc_bytes') || null,
    };
  } catch {
    return { heapUsedMiB: null, heapTotalMiB: null, externalMiB: null };
  }
}

export async function soak(o: { gw: ServerProcess & { adminToken?: string }; scepUrl: string; mint: () => Promise<string>; seconds: number; concurrency: number; checkins?: SoakCheckins; onSample?: (s: SoakSample) => void }) {
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
  let checkins = 0;
  const checkinsByKind = { windows: 0, apple: 0, android: 0 };
  let errors = 0;
  let busy = 0;
  const firstErrors: string[] = [];
  const error = (m: string) => {
    errors++;
    if (firstErrors.length < 20) firstErrors.push(m);
  };
  const base = o.scepUrl.replace(/\/certsrv.*$/, '');
  const rss: SoakSample[] = [];
  const t0 = performance.now();
  const sample = async () => {
    const s = { t: Math.round((performance.now() - t0) / 1000), rssMiB: Math.round(o.gw.rssMiB().now), cpuMs: o.gw.cpuMs(), ...(await memoryGauges(base, o.gw.adminToken)), operations, errors };
    rss.push(s);
    o.onSample?.(s);
  };
  await sample();
  const timer = setInterval(() => void sample(), 10_000);

  const enroll = async () => {
    const req = pool.shift();
    refill();
    if (!req) {
      operations--; // waiting for the prebuilder is not an operation
      return new Promise((r) => setTimeout(r, 50));
    }
    const res = await fetch(`${o.scepUrl}?operation=PKIOperation`, { method: 'POST', body: req.der, headers: { 'content-type': 'application/x-pki-message' } });
    const body = new Uint8Array(await res.arrayBuffer());
    if (res.status === 503) {
      busy++;
      pool.push(req); // the client retries later
      return new Promise((r) => setTimeout(r, 1000));
    }
    if (res.status !== 200) throw new Error(`PKIOperation: HTTP ${res.status}`);
    const rep = await readCertRep(body, req.signer, recipient);
    if (rep.status !== 'SUCCESS') throw new Error(`CertRep ${rep.status} ${rep.failInfo ?? ''}`);
    enrollments++;
  };
  const statics = async () => {
    await getOk(`${o.scepUrl}?operation=${operations % 2 ? 'GetCACaps' : 'GetCACert'}`);
    await getOk(`${base}/healthz`);
  };
  // Check-in workers: the first few own one Windows device each, as many again send Apple Idle connects, the rest fetch Android policies.
  const checkinOp = (k: number): [keyof typeof checkinsByKind, () => Promise<void>] | null => {
    const c = o.checkins;
    if (!c) return null;
    if (k < c.windows.length) return ['windows', c.windows[k]!];
    if (c.apple.length && k < c.windows.length + c.apple.length) return ['apple', c.apple[k - c.windows.length]!];
    return c.android.length ? ['android', c.android[k % c.android.length]!] : null;
  };
  await Promise.all(
    Array.from({ length: o.concurrency }, async (_, w) => {
      const checkin = w % 4 === 2 ? checkinOp(Math.floor(w / 4)) : null;
      while (performance.now() < end) {
        operations++;
        const kind = w % 4 === 3 ? 'static' : checkin ? 'check-in' : 'enrollment';
        try {
          if (w % 4 === 3) await statics();
          else if (checkin) {
            await checkin[1]();
            checkins++;
            checkinsByKind[checkin[0]]++;
          } else await enroll();
        } catch (e) {
          // fetch() says only "fetch failed": the socket error is its cause.
          const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause;
          error(`${kind} at ${Math.round((performance.now() - t0) / 1000)} s: ${(e as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`);
        }
      }
    }),
  );
  clearInterval(timer);
  await refilling; // nothing may still talk to the gateway once it is stopped
  await sample();
  return { seconds: o.seconds, concurrency: o.concurrency, operations, enrollments, checkins, checkinsByKind, errors, busyRetried: busy, firstErrors, rss, flatness: flatness(rss) };
}
