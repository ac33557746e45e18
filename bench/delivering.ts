// `node --import tsx bench/delivering.ts [--devices N]`: only the delivering
// check-ins (bench/lib/delivering.ts) of N Android agents and N Apple devices
// (default 30), each with the same 3 assigned profiles, against the gateway
// in its own process; BENCH_CPU_PROF=dir profiles the gateway. Prints the
// floor (the signatures each check-in needs, node:crypto in the same run) and
// ours over it. Subjects name
// the device id: every simulator reports the same device name (a conflict).
import { loadavg } from 'node:os';
import { appleBenchSetup, benchUser, installPushCertificate } from './lib/checkins.js';
import { deliveringBench } from './lib/delivering.js';
import { measureDeliveringFloor } from './lib/floor.js';
import { apiOf, startGatewayProcess } from './lib/server-process.js';

const at = process.argv.indexOf('--devices');
const DEVICES = at > 0 ? Number(process.argv[at + 1]) : 30;
const apple = await appleBenchSetup();
const gw = await startGatewayProcess({ env: { MDMGW_CLIENT_CERT_HEADER: 'X-Client-Cert', MDMGW_LOG_LEVEL: 'info', ...apple.env } });
try {
  const api = apiOf(gw);
  const user = await benchUser(api, 'DeviceId');
  await installPushCertificate(api, apple.apns);
  const load = loadavg().map((l) => l.toFixed(1)).join(' ');
  // Two devices first to warm the gateway's JIT and caches, not counted.
  await deliveringBench(api, gw.cpuMs, user.id, 2, gw.url, apple.apns);
  const r = await deliveringBench(api, gw.cpuMs, user.id, DEVICES, gw.url, apple.apns);
  // The signatures these check-ins need, with node:crypto in this run (issue 13: "3 ms plus the signatures it needs").
  const floor = measureDeliveringFloor();
  const ratio = (ours: number | undefined, f: number) => (ours === undefined ? undefined : Number((ours / f).toFixed(2)));
  const overFloor = { androidFetchMs: r.androidFetchCpuMs - floor.androidFetchMs, appleTokenUpdateMs: (r.appleTokenUpdateCpuMs ?? 0) - floor.appleTokenUpdateMs, appleConnectsMs: (r.appleConnectsCpuMs ?? 0) - floor.appleConnectsMs };
  const ratios = { android: ratio(r.androidFetchCpuMs, floor.androidFetchMs), appleTokenUpdate: ratio(r.appleTokenUpdateCpuMs, floor.appleTokenUpdateMs), appleConnects: ratio(r.appleConnectsCpuMs, floor.appleConnectsMs) };
  console.log(JSON.stringify({ ...r, floor, overFloor, ratios, loadBefore: load, loadAfter: loadavg().map((l) => l.toFixed(1)).join(' ') }, null, 2));
} finally {
  await gw.stop();
  await apple.apns.stop();
}
