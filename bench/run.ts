// `npm run bench` (issue 13): the gateway as a user runs it (`mdmgw serve` in
// its own process, SQLite in a fresh data directory), loaded over HTTP from
// this process. Every figure of CPU is the server process's own utime+stime
// from /proc: the machine is shared, wall-clock figures are noisy, CPU per
// operation is what counts. Prints a table, writes JSON to bench/results/.
//
//   npm run bench                     full run (a few minutes)
//   npm run bench -- --quick          about a minute, smaller counts
//   npm run bench -- --target URL --challenge C   SCEP load against any server
//   npm run bench -- --soak 600       mixed enrollments + check-ins at concurrency 64 for 600 s: errors, RSS over time
//   npm run bench -- --in-process     also the older in-process OCSP and issuance benches
//   npm run bench -- --checkins       only the check-in benches (Android, Windows, Apple)
//   npm run bench -- --scale [--quick] the same measurements again on a store seeded with 100,000 devices,
//                                     300,000 certificates, 1,000,000 audit rows (--quick: a tenth), side by side;
//                                     --seed full|tenth picks the store size apart from --quick's counts;
//                                     --rounds N (default 3) more enrollment series, alternating the two stores
//   npm run bench -- --ca-key rsa2048 the gateway's CA key (MDMGW_CA_KEY: rsa3072, rsa2048 or p256); the floor uses the same key
//   npm run bench -- --enrollment     only the floor, the enrollment series and scepserver (about 30 s with --quick)
//
// Device-side work (RSA-2048 keys, CSRs, signed and encrypted requests) is
// done before each timed phase; every answer is decoded and checked after it.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { appleBenchSetup, checkinBench, type CheckinResults } from './lib/checkins.js';
import { measureFloor, type Floor } from './lib/floor.js';
import { ocspBench, type OcspResults } from './lib/ocsp-load.js';
import { getOk, runLoad, type LoadResult } from './lib/load.js';
import { deviceKeys, enrollmentLoad, prebuild, recipientOf, type EnrollmentLoadResult } from './lib/scep-load.js';
import { apiOf, startGatewayProcess, startScepserver, type ServerProcess } from './lib/server-process.js';
import { soak, type SoakSample } from './lib/soak.js';
import { soakCheckins } from './lib/soak-checkins.js';
import { scaleRun, scaleRows, type ScaleResults } from './lib/scale-run.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const value = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const QUICK = flag('--quick');
const CHECKINS_ONLY = flag('--checkins');
const ENROLLMENT_ONLY = flag('--enrollment');
const CA_KEY = value('--ca-key');
if (CA_KEY !== undefined && !['rsa3072', 'rsa2048', 'p256'].includes(CA_KEY)) throw new Error(`--ca-key ${CA_KEY}: must be rsa3072, rsa2048 or p256`);
const CONCURRENCIES = [1, 8, 64];
// --scale --quick: 80 per level, not 30 (30 swung 0.82–1.52x run to run; issue 13).
const perLevel = (c: number) => (QUICK ? Math.max(flag('--scale') ? 80 : 30, c * 2) : Math.max(200, c * 5));
const STATIC_N = QUICK ? 500 : 3000;
// BENCH_CHECKIN_N: more check-ins per row (the quick rows are 100, counted in 10 ms ticks).
const CHECKIN_N = Number(process.env.BENCH_CHECKIN_N) || (QUICK ? 100 : 400);

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const results: Record<string, unknown> = { startedAt: new Date().toISOString(), mode: QUICK ? 'quick' : 'full', node: process.version };

async function scepSeries(name: string, scepUrl: string, cpuMs: () => number, challenge: (i: number) => Promise<string>): Promise<Record<number, EnrollmentLoadResult>> {
  const recipient = await recipientOf(scepUrl);
  const keys = await deviceKeys(QUICK ? 8 : 32);
  const out: Record<number, EnrollmentLoadResult> = {};
  // Every request (and its challenge, minted through the admin API) is built
  // before the first timed phase: the server's CPU for minting and the GC it
  // leaves behind must not land in an enrollment window.
  const build = (n: number) => prebuild({ n, recipient, keys, subject: 'CN=bench-device, O=Bench', challenge });
  const warmUp = await build(10);
  const levels = new Map<number, Awaited<ReturnType<typeof build>>>();
  for (const c of CONCURRENCIES) levels.set(c, await build(perLevel(c)));
  await enrollmentLoad(scepUrl, recipient, warmUp, 2, cpuMs); // JIT, caches: not counted
  for (const c of CONCURRENCIES) {
    out[c] = await enrollmentLoad(scepUrl, recipient, levels.get(c)!, c, cpuMs);
    console.error(`${name} c=${c}: ${out[c].cpuMsPerOp} ms CPU/enrollment, ${out[c].perSecond}/s, ${out[c].failed} failed`);
  }
  return out;
}

async function staticAnswers(gw: ServerProcess): Promise<Record<string, LoadResult>> {
  const out: Record<string, LoadResult> = {};
  for (const [name, p] of [['/healthz', '/healthz'], ['GetCACaps', '/certsrv/mscep/mscep.dll?operation=GetCACaps'], ['GetCACert', '/certsrv/mscep/mscep.dll?operation=GetCACert']] as const) {
    await runLoad({ n: 200, concurrency: 4, cpuMs: gw.cpuMs, op: async () => void (await getOk(gw.url + p)) });
    out[name] = await runLoad({ n: STATIC_N, concurrency: 4, cpuMs: gw.cpuMs, op: async () => void (await getOk(gw.url + p)) });
  }
  return out;
}

/** The plain run's gateway measurements (static answers, enrollment series, check-ins), for --scale. */
async function measureGateway(gw: ServerProcess & { adminToken: string }, api: ReturnType<typeof apiOf>) {
  const device = await api('POST', '/devices', { name: 'bench-device', platform: 'windows' });
  const profile = await api('POST', '/profiles', { name: 'bench', scope: 'device', subjectName: 'CN={{DeviceName}},O=Bench' });
  await api('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
  const mint = async () => (await api('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;
  const staticAnswersResult = await staticAnswers(gw);
  const enrollment = await scepSeries('gateway', `${gw.url}/certsrv/mscep/mscep.dll`, gw.cpuMs, mint);
  const checkins = await checkinBench(gw.url, api, gw.cpuMs, CHECKIN_N, 8);
  return { staticAnswers: staticAnswersResult, enrollment, checkins, rssMiB: gw.rssMiB() };
}

/** One more enrollment series on a gateway of --scale (its own device and profile): the alternating rounds. */
async function scaleEnrollmentRound(gw: ServerProcess & { adminToken: string }, api: ReturnType<typeof apiOf>, label: string) {
  const device = await api('POST', '/devices', { name: 'bench-device', platform: 'windows' });
  const profile = await api('POST', '/profiles', { name: `bench ${label}`, scope: 'device', subjectName: 'CN={{DeviceName}},O=Bench' });
  await api('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
  return scepSeries(label, `${gw.url}/certsrv/mscep/mscep.dll`, gw.cpuMs, async () => (await api('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string);
}

async function main(): Promise<number> {
  const target = value('--target');
  if (target) {
    const challenge = value('--challenge') ?? '';
    const pid = Number(value('--pid') ?? 0);
    const cpu = pid ? (await import('./lib/server-process.js')).cpuMsOf.bind(null, pid) : () => 0;
    results.target = { url: target, enrollment: await scepSeries('target', target, cpu, async () => challenge) };
    return report();
  }
  if (flag('--scale')) {
    results.scale = await scaleRun({ quick: QUICK, seed: value('--seed'), rounds: Number(value('--rounds') ?? 3), measure: (gw, api) => measureGateway(gw, api), enrollments: scaleEnrollmentRound });
    return report();
  }
  const soakSeconds = value('--soak');
  const apple = await appleBenchSetup();
  // BENCH_GATEWAY_NODE_OPTIONS / BENCH_GATEWAY_MALLOC_ARENA_MAX: V8 and glibc settings for the gateway alone (the soak's RSS trials).
  const tuning = { ...(process.env.BENCH_GATEWAY_NODE_OPTIONS && { NODE_OPTIONS: process.env.BENCH_GATEWAY_NODE_OPTIONS }), ...(process.env.BENCH_GATEWAY_MALLOC_ARENA_MAX && { MALLOC_ARENA_MAX: process.env.BENCH_GATEWAY_MALLOC_ARENA_MAX }) };
  const gw = await startGatewayProcess({ env: { MDMGW_CLIENT_CERT_HEADER: 'X-Client-Cert', MDMGW_LOG_LEVEL: 'info', ...apple.env, ...tuning, ...(CA_KEY && { MDMGW_CA_KEY: CA_KEY }) } });
  try {
    const api = apiOf(gw);
    const device = await api('POST', '/devices', { name: 'bench-device', platform: 'windows' });
    const profile = await api('POST', '/profiles', { name: 'bench', scope: 'device', subjectName: 'CN={{DeviceName}},O=Bench' });
    await api('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const scepUrl = `${gw.url}/certsrv/mscep/mscep.dll`;
    const mint = async () => (await api('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;
    if (soakSeconds) {
      const checkins = await soakCheckins(gw.url, api, { android: 4, windows: 4, apple: { devices: 4, apns: apple.apns } });
      const onSample = (x: SoakSample) => console.error(`soak ${x.t} s: RSS ${x.rssMiB} MiB, heap used/total ${x.heapUsedMiB}/${x.heapTotalMiB} MiB, after major GC ${x.heapAfterGcMiB ?? '-'} MiB, external ${x.externalMiB} MiB, ${x.operations} ops, ${x.errors} errors`);
      const soaked = await soak({ gw, scepUrl, mint, seconds: Number(soakSeconds), concurrency: 64, checkins, onSample });
      results.soak = { ...soaked, gatewayNodeOptions: process.env.BENCH_GATEWAY_NODE_OPTIONS ?? null, mallocArenaMax: process.env.BENCH_GATEWAY_MALLOC_ARENA_MAX ?? null };
      console.error(`soak memory ${soaked.flatness.verdict}`);
      return report();
    }
    if (CHECKINS_ONLY) {
      results.checkins = (await checkinBench(gw.url, api, gw.cpuMs, CHECKIN_N, 8, apple.apns)) satisfies CheckinResults;
      return report();
    }
    const floor: Floor = measureFloor(await readFile(path.join(gw.dataDir, 'ca.pem'), 'utf8'));
    results.floor = floor;
    if (!ENROLLMENT_ONLY) results.staticAnswers = await staticAnswers(gw);
    if (!ENROLLMENT_ONLY) results.ocsp = (await ocspBench({ url: gw.url, dataDir: gw.dataDir, api, mint, cpuMs: gw.cpuMs, n: STATIC_N })) satisfies OcspResults;
    const ours = await scepSeries('gateway', scepUrl, gw.cpuMs, mint);
    results.gateway = { enrollment: ours, rssMiB: gw.rssMiB() };
    if (!ENROLLMENT_ONLY) results.checkins = (await checkinBench(gw.url, api, gw.cpuMs, CHECKIN_N, 8, apple.apns)) satisfies CheckinResults;
    results.gateway = { enrollment: ours, rssMiB: gw.rssMiB() };
  } finally {
    await gw.stop();
    await apple.apns.stop();
  }
  const challenge = 'bench-static-challenge';
  const peer = await startScepserver(challenge);
  if (peer) {
    try {
      results.scepserver = { enrollment: await scepSeries('scepserver', peer.url, peer.cpuMs, async () => challenge), rssMiB: peer.rssMiB() };
    } finally {
      await peer.stop();
    }
  } else {
    results.scepserver = { skipped: 'micromdm scepserver not installed (Debian package scep)' };
  }
  if (flag('--in-process')) {
    const { inProcessBenches } = await import('./in-process.js');
    results.inProcess = await inProcessBenches();
  }
  return report();
}

async function report(): Promise<number> {
  const dir = path.join(ROOT, 'bench/results');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${(results.startedAt as string).replace(/[:.]/g, '-')}${results.soak ? '-soak' : ''}${results.scale ? '-scale' : ''}.json`);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  const rows: string[][] = [['measure', 'value', 'CPU ms/op', 'ops/s', 'p50 ms', 'p99 ms', 'errors']];
  const row = (name: string, r: LoadResult & { failed?: number }) => rows.push([name, '', String(r.cpuMsPerOp), String(r.perSecond), String(r.latencyMs.p50), String(r.latencyMs.p99), String(r.failed ?? r.errors)]);
  const floor = results.floor as Floor | undefined;
  if (floor) rows.push([`floor (RA decrypt + ${floor.caKey} CA sign + RA sign)`, '', String(floor.totalMs), '', '', '', '']);
  for (const [name, r] of Object.entries((results.staticAnswers ?? {}) as Record<string, LoadResult>)) row(name, r);
  const ocsp = results.ocsp as OcspResults | undefined;
  if (ocsp) for (const [name, r] of [['OCSP good, cached', ocsp.cachedGood], ["OCSP good, nonce'd (signed)", ocsp.noncedGood], ['OCSP revoked, cached', ocsp.revoked]] as const) row(name, r);
  const ours = (results.gateway as { enrollment?: Record<number, EnrollmentLoadResult> } | undefined)?.enrollment;
  const peer = (results.scepserver as { enrollment?: Record<number, EnrollmentLoadResult> } | undefined)?.enrollment;
  for (const c of CONCURRENCIES) {
    if (ours?.[c]) row(`gateway enrollment c=${c}`, ours[c]);
    if (peer?.[c]) row(`scepserver enrollment c=${c}`, peer[c]);
    if (ours?.[c] && floor) rows.push([`  gateway / floor c=${c}`, (ours[c].cpuMsPerOp / floor.totalMs).toFixed(2), '', '', '', '', '']);
    if (ours?.[c] && peer?.[c]) rows.push([`  scepserver / gateway c=${c}`, (peer[c].cpuMsPerOp / ours[c].cpuMsPerOp).toFixed(2), '', '', '', '', '']);
  }
  const ci = results.checkins as CheckinResults | undefined;
  if (ci) {
    rows.push(['android first fetch + 3 installs', `${ci.androidFirst.certificates} certs`, String(ci.androidFirst.cpuMs), '', '', '', '']);
    row('android policy fetch (200)', ci.androidPolicy);
    row('android policy fetch (304)', ci.androidNotModified);
    if ('error' in ci.windowsFirst) rows.push(['windows', ci.windowsFirst.error, '', '', '', '', '']);
    else {
      rows.push(['windows first sessions (3 installs, with their SCEP)', `${ci.windowsFirst.certificates} certs`, String(ci.windowsFirst.cpuMs), '', '', '', '']);
      rows.push(['  of which OMA-DM messages', `${ci.windowsFirst.messages} messages`, String(ci.windowsFirst.omaDmCpuMs), '', '', '', '']);
    }
    if (!('error' in ci.windowsSession)) row('windows session, nothing to do', ci.windowsSession);
    if (ci.windowsSessionC64 && !('error' in ci.windowsSessionC64)) row('windows session, nothing to do, 64 devices', ci.windowsSessionC64);
    if (ci.androidPolicyC64) row('android policy fetch (200) c=64, 8 agents', ci.androidPolicyC64);
    if (ci.androidNotModifiedC64) row('android policy fetch (304) c=64, 8 agents', ci.androidNotModifiedC64);
    if (ci.apple && 'error' in ci.apple) rows.push(['apple', ci.apple.error, '', '', '', '', '']);
    else if (ci.apple) {
      rows.push(['apple enroll + Authenticate + TokenUpdate', '', String(ci.apple.enrollCpuMs), '', '', '', '']);
      rows.push(['apple first connects (3 installs)', `${ci.apple.certificates} certs`, String(ci.apple.firstConnectsCpuMs), '', '', '', '']);
      row('apple Idle, nothing to do', ci.apple.idle);
      row('apple Idle c=64, 4 devices', ci.apple.idleC64);
    }
  }
  const target = (results.target as { enrollment?: Record<number, EnrollmentLoadResult> } | undefined)?.enrollment;
  for (const c of CONCURRENCIES) if (target?.[c]) row(`target enrollment c=${c}`, target[c]);
  if (results.scale) rows.splice(0, rows.length, ...scaleRows(results.scale as ScaleResults)); // a --scale run prints only its own table
  const s = results.soak as { errors: number; operations: number; enrollments: number; checkins: number; checkinsByKind: Record<string, number>; rss: SoakSample[]; flatness: { verdict: string; flat: boolean } } | undefined;
  if (s) rows.push(['soak', `${s.operations} ops (${s.enrollments} enrollments, ${s.checkins} check-ins: ${JSON.stringify(s.checkinsByKind)}), RSS ${s.rss.map((r) => r.rssMiB).join(' ')} MiB`, '', '', '', '', String(s.errors)]);
  if (s) rows.push(['soak memory', s.flatness.verdict, '', '', '', '', '']);
  if (s) rows.push(['soak heap used', `${s.rss.map((r) => r.heapUsedMiB).join(' ')} MiB`, '', '', '', '', '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
  const scaled = results.scale as ScaleResults | undefined;
  const failures = [...Object.values(ours ?? {}), ...Object.values(target ?? {}), ...Object.values(scaled?.plain.enrollment ?? {}), ...Object.values(scaled?.scaled.enrollment ?? {}), ...[...(scaled?.plain.rounds ?? []), ...(scaled?.scaled.rounds ?? [])].flatMap((r) => Object.values(r))].reduce((n, r) => n + r.failed, 0) + (s?.errors ?? 0) + Object.values(ocsp ?? {}).reduce((n, r) => n + r.errors, 0);
  // A soak whose memory does not level off fails like an error (criterion: bench/lib/soak.ts flatness()).
  return failures > 0 || (s && !s.flatness.flat) ? 1 : 0;
}

process.exitCode = await main();
