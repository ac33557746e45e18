// Load generation for the process benches: `n` operations at a given
// concurrency, latency per operation, and the server's CPU (from /proc) over
// exactly that window.
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  operations: number;
  concurrency: number;
  errors: number;
  firstError: string | null;
  perSecond: number;
  latencyMs: { p50: number; p99: number };
  /** Server CPU per operation (utime+stime delta / operations). */
  cpuMsPerOp: number;
}

export const round = (v: number, digits = 2) => Number(v.toFixed(digits));

/** The p-th percentile (0..100) of latencies sorted ascending, in ms to 0.1 (0 when there are none). */
export function percentile(sorted: readonly number[], p: number): number {
  return round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0, 1);
}

export async function runLoad(o: { n: number; concurrency: number; cpuMs: () => number; op: (i: number) => Promise<void> }): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let next = 0;
  const cpu0 = o.cpuMs();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(o.concurrency, o.n) }, async () => {
      while (next < o.n) {
        const i = next++;
        const s = performance.now();
        try {
          await o.op(i);
        } catch (e) {
          errors++;
          firstError ??= (e as Error).message;
        }
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = o.cpuMs() - cpu0;
  latencies.sort((a, b) => a - b);
  return { operations: o.n, concurrency: o.concurrency, errors, firstError, perSecond: round(o.n / seconds, 1), latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) }, cpuMsPerOp: round(cpu / o.n, 3) };
}

/** GET that must answer `status` (200 unless told), body drained. */
export async function getOk(url: string, status = 200, headers: Record<string, string> = {}): Promise<Response> {
  const r = await fetch(url, { headers });
  await r.arrayBuffer();
  if (r.status !== status) throw new Error(`GET ${url}: HTTP ${r.status}`);
  return r;
}
