// `node --import tsx bench/delivering.ts [--devices N]`: only the delivering
// check-ins (bench/lib/delivering.ts) of N Android agents, N Windows devices
// (the OMA-DM messages of the first session) and N Apple devices
// (default 30), each with the same 3 assigned profiles, against the gateway
// in its own process; BENCH_CPU_PROF=dir profiles the gateway. Prints the
// floor (the signatures each check-in needs, node:crypto in the same run) and
// ours over it. Subjects name
// the device id: every simulator reports the same device name (a conflict).
// --precise: the gateway's CPU from its own /metrics (process.cpuUsage(), in
// microseconds) instead of /proc's 10 ms ticks, less what a /metrics reading
// itself costs (the median of 20 back-to-back pairs, measured first).
import { loadavg } from 'node:os';
import { appleBenchGateway } from './lib/checkins.js';
import { deliveringBench, type CpuReader } from './lib/delivering.js';
import { measureDeliveringFloor } from './lib/floor.js';
import { metricsText, metricValue } from './lib/server-process.js';

const at = process.argv.indexOf('--devices');
const DEVICES = at > 0 ? Number(process.argv[at + 1]) : 30;
const PRECISE = process.argv.includes('--precise');

/** process_cpu_seconds_total from the gateway's /metrics, in ms, and the cost of reading it (see the file comment). */
async function metricsCpu(gw: { url: string; adminToken: string }): Promise<CpuReader> {
  const read = async () => {
    const seconds = metricValue(await metricsText(gw), 'mdmgw_process_cpu_seconds_total');
    if (seconds === null) throw new Error('no mdmgw_process_cpu_seconds_total in /metrics');
    return seconds * 1000;
  };
  const pairs: number[] = [];
  for (let i = 0; i < 20; i++) {
    const a = await read();
    pairs.push((await read()) - a);
  }
  pairs.sort((x, y) => x - y);
  return { read, offset: pairs[10]! };
}
const { gw, apns, api, user, stop } = await appleBenchGateway('DeviceId');
try {
  const load = loadavg().map((l) => l.toFixed(1)).join(' ');
  const cpu: CpuReader = PRECISE ? await metricsCpu(gw) : { read: gw.cpuMs, offset: 0 };
  // Two devices first to warm the gateway's JIT and caches, not counted.
  await deliveringBench(api, cpu, user.id, 2, gw.url, apns);
  const r = await deliveringBench(api, cpu, user.id, DEVICES, gw.url, apns);
  // The signatures these check-ins need, with node:crypto in this run (issue 13: "3 ms plus the signatures it needs").
  const floor = measureDeliveringFloor();
  const ratio = (ours: number | undefined, f: number) => (ours === undefined ? undefined : Number((ours / f).toFixed(2)));
  const overFloor = { androidFetchMs: r.androidFetchCpuMs - floor.androidFetchMs, appleTokenUpdateMs: (r.appleTokenUpdateCpuMs ?? 0) - floor.appleTokenUpdateMs, appleConnectsMs: (r.appleConnectsCpuMs ?? 0) - floor.appleConnectsMs, windowsSessionMs: (r.windowsSessionCpuMs ?? 0) - floor.windowsSessionMs };
  const ratios = { android: ratio(r.androidFetchCpuMs, floor.androidFetchMs), appleTokenUpdate: ratio(r.appleTokenUpdateCpuMs, floor.appleTokenUpdateMs), appleConnects: ratio(r.appleConnectsCpuMs, floor.appleConnectsMs), windowsSession: ratio(r.windowsSessionCpuMs, floor.windowsSessionMs) };
  console.log(JSON.stringify({ cpu: PRECISE ? `gateway /metrics, less ${cpu.offset.toFixed(2)} ms per reading` : '/proc ticks', ...r, floor, overFloor, ratios, loadBefore: load, loadAfter: loadavg().map((l) => l.toFixed(1)).join(' ') }, null, 2));
} finally {
  await stop();
}
