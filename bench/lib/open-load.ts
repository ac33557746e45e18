// Open-loop load (issue 13, "p99 under 20 ms at concurrency 64"): requests
// arrive on a fixed schedule, `rate` per second, whatever the server's pace,
// with at most `maxInFlight` outstanding, as devices checking in on their own
// timers do. A closed loop (runLoad: 64 clients, each sending its next
// request the moment the last is answered) keeps the server saturated by
// construction, so its latency is 64 / throughput (Little's law) whatever
// the server does; an open loop shows the latency a device sees at a given
// load. Latency is counted from the scheduled arrival, not from when a slot
// became free, so a server that falls behind is not flattered (no
// coordinated omission).
import { performance } from 'node:perf_hooks';
import { percentile, round } from './load.js';

export interface OpenLoadResult {
  /** Requests per second scheduled. */
  rate: number;
  operations: number;
  errors: number;
  firstError: string | null;
  /** Most requests outstanding at once. */
  peakInFlight: number;
  latencyMs: { p50: number; p99: number; max: number };
  cpuMsPerOp: number;
}


export async function runOpenLoad(o: { n: number; rate: number; maxInFlight: number; cpuMs: () => number; op: (i: number) => Promise<void> }): Promise<OpenLoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let inFlight = 0;
  let peakInFlight = 0;
  const waiting: Array<() => void> = [];
  const slot = async (): Promise<void> => {
    if (inFlight < o.maxInFlight) return;
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const cpu0 = o.cpuMs();
  const t0 = performance.now();
  const interval = 1000 / o.rate;
  const all: Promise<void>[] = [];
  for (let i = 0; i < o.n; i++) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    await slot();
    inFlight++;
    peakInFlight = Math.max(peakInFlight, inFlight);
    all.push(
      o.op(i).then(
        () => undefined,
        (e) => {
          errors++;
          firstError ??= (e as Error).message;
        },
      ).finally(() => {
        latencies.push(performance.now() - due);
        inFlight--;
        waiting.shift()?.();
      }),
    );
  }
  await Promise.all(all);
  const cpu = o.cpuMs() - cpu0;
  latencies.sort((a, b) => a - b);
  return { rate: round(o.rate, 1), operations: o.n, errors, firstError, peakInFlight, latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: percentile(latencies, 100) }, cpuMsPerOp: round(cpu / o.n, 3) };
}

/** `rounds` bursts of `size` requests sent at once, `pauseMs` apart: the latency of each request from its burst's start. */
export async function runBursts(o: { size: number; rounds: number; pauseMs: number; op: (i: number) => Promise<void> }): Promise<{ size: number; rounds: number; errors: number; latencyMs: { p50: number; p99: number; max: number } }> {
  const latencies: number[] = [];
  let errors = 0;
  for (let r = 0; r < o.rounds; r++) {
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: o.size }, (_, i) =>
        o.op(r * o.size + i).then(
          () => void latencies.push(performance.now() - t0),
          () => void errors++,
        ),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, o.pauseMs));
  }
  latencies.sort((a, b) => a - b);
  return { size: o.size, rounds: o.rounds, errors, latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: percentile(latencies, 100) } };
}
