// `node --import tsx bench/latency.ts [--n N]`: what a device waits for a
// check-in with nothing to do when 64 are in flight (issue 13: "p99 under
// 20 ms at concurrency 64"), against the gateway in its own process:
// Android policy fetches (200 and 304) over CONCURRENT_AGENTS agents and
// Apple Idle connects over APPLE_DEVICES devices, each device with the same
// 3 installed profiles.
//   closed  64 clients back to back (bench/run.ts's c=64 rows): saturation,
//           so the latency is 64 / throughput by Little's law;
//   open    arrivals on a schedule at 25, 50 and 75% of that throughput,
//           at most 64 outstanding (bench/lib/open-load.ts);
//   burst   64 sent at once, 20 times, 200 ms apart.
// Beside each row, from the gateway's own /metrics (prom-client default
// metrics, read before and after the row): the longest event-loop delay and
// the time spent in GC pauses during it, so a p99 can be told apart as the
// gateway's stall or the load generator's (it shares the 2 cores).
import { loadavg } from 'node:os';
import { appleBenchGateway, enrolledAppleDevice, idleRequest } from './lib/checkins.js';
import { runLoad } from './lib/load.js';
import { runBursts, runOpenLoad } from './lib/open-load.js';
import { metricsText, metricValue } from './lib/server-process.js';
import { AndroidAgentSim } from '../src/sim/android.js';

const at = process.argv.indexOf('--n');
const N = at > 0 ? Number(process.argv[at + 1]) : 1000;
const CONCURRENT_AGENTS = 8;
const APPLE_DEVICES = 4;
const C = 64;
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

/** The gateway's GC pause total (s) and its event-loop delay max since the last read (prom-client resets it per scrape). */
async function stalls(gw: { url: string; adminToken: string }): Promise<{ gcSeconds: number; loopMaxMs: number }> {
  const text = await metricsText(gw);
  const lag = metricValue(text, 'mdmgw_nodejs_eventloop_lag_max_seconds');
  return { gcSeconds: metricValue(text, 'mdmgw_nodejs_gc_duration_seconds_sum') ?? 0, loopMaxMs: lag === null ? NaN : lag * 1000 };
}

/** `run` with the gateway's GC pause time and longest event-loop delay during it. */
async function withStalls<T>(gw: { url: string; adminToken: string }, run: () => Promise<T>): Promise<T & { gcMs: number; loopMaxMs: number }> {
  const before = await stalls(gw);
  const r = await run();
  const after = await stalls(gw);
  return { ...r, gcMs: Number(((after.gcSeconds - before.gcSeconds) * 1000).toFixed(1)), loopMaxMs: Number(after.loopMaxMs.toFixed(1)) };
}

const { gw, apns, api, user, stop } = await appleBenchGateway('DeviceId');
try {

  const agents: AndroidAgentSim[] = [];
  for (let i = 0; i < CONCURRENT_AGENTS; i++) {
    const a = new AndroidAgentSim(gw.url);
    await a.enroll((await api('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
    await a.applyPolicy((await a.fetchPolicy()).document!);
    await a.fetchPolicy(); // reports settle
    agents.push(a);
  }
  const idles: Array<() => Promise<void>> = [];
  for (let i = 0; i < APPLE_DEVICES; i++) {
    const sim = await enrolledAppleDevice(gw.url, api, user.id, apns);
    await sim.drain();
    await sim.drain();
    idles.push(await idleRequest(sim));
  }
  const kinds: Record<string, (i: number) => Promise<void>> = {
    'Android policy fetch 200': async (i) => {
      const f = await agents[i % agents.length]!.fetchPolicy();
      if (f.status !== 200) throw new Error(`policy fetch: HTTP ${f.status}`);
    },
    'Android policy fetch 304': async (i) => {
      const f = await agents[i % agents.length]!.fetchPolicy({ conditional: true });
      if (f.status !== 304) throw new Error(`conditional policy fetch: HTTP ${f.status}`);
    },
    'Apple Idle': (i) => idles[i % idles.length]!(),
  };

  const rows: string[][] = [['check-in', 'load', 'req/s', 'CPU ms/op', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'gateway GC ms', 'gateway loop delay max ms']];
  const measured = <T,>(run: () => Promise<T>) => withStalls(gw, run);
  const results: Record<string, unknown> = {};
  for (const [name, op] of Object.entries(kinds)) {
    await runLoad({ n: 100, concurrency: C, cpuMs: gw.cpuMs, op }); // warm-up
    const closed = await measured(() => runLoad({ n: N, concurrency: C, cpuMs: gw.cpuMs, op }));
    rows.push([name, `closed, ${C} clients`, String(closed.perSecond), String(closed.cpuMsPerOp), String(closed.latencyMs.p50), String(closed.latencyMs.p99), '', String(closed.errors), String(closed.gcMs), String(closed.loopMaxMs)]);
    const open = [];
    for (const share of [0.25, 0.5, 0.75]) {
      const r = await measured(() => runOpenLoad({ n: N, rate: closed.perSecond * share, maxInFlight: C, cpuMs: gw.cpuMs, op }));
      open.push({ share, ...r });
      rows.push([name, `open, ${share * 100}% of closed (peak ${r.peakInFlight} in flight)`, String(r.rate), String(r.cpuMsPerOp), String(r.latencyMs.p50), String(r.latencyMs.p99), String(r.latencyMs.max), String(r.errors), String(r.gcMs), String(r.loopMaxMs)]);
    }
    const burst = await measured(() => runBursts({ size: C, rounds: 20, pauseMs: 200, op }));
    rows.push([name, `${C} at once, 20 times`, '', '', String(burst.latencyMs.p50), String(burst.latencyMs.p99), String(burst.latencyMs.max), String(burst.errors), String(burst.gcMs), String(burst.loopMaxMs)]);
    results[name] = { closed, open, burst };
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((v, c) => v.padEnd(widths[c]!)).join('  '));
  console.log(JSON.stringify({ n: N, load: load(), results }));
} finally {
  await stop();
}
