// `node --import tsx bench/query-plans.ts [--scale [--quick]]`: the SQL the
// hot paths run (recorded from better-sqlite3's statements as they execute),
// each with SQLite's EXPLAIN QUERY PLAN, for docs/performance.md. A plan line
// with "SCAN <table>" (no index) on a table that grows with devices is a full
// scan; "USE TEMP B-TREE" is a sort.
//
// --scale: the same on a store seeded with 100,000 devices, 300,000
// certificates and 1,000,000 audit rows (bench/lib/scale.ts; --quick: a
// tenth), and each SELECT is run again with the parameters it was run with,
// so a scan shows as time as well as in the plan.
import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { AndroidAgentSim } from '../src/sim/android.js';
import { createAndroidAdapter } from '../src/adapters/android/index.js';
import { createWindowsAdapter } from '../src/adapters/windows/index.js';
import { WindowsSimulator } from '../src/sim/windows.js';
import { scepEnroll } from '../src/sim/scep-client.js';
import { startTestGateway } from '../test/helpers/gateway.js';
import { ocspRequest } from '../test/ca/ocsp/helpers.js';
import { FULL_SCALE, QUICK_SCALE, seedScale } from './lib/scale.js';

const args = process.argv.slice(2);
const SCALE = args.includes('--scale');
const QUICK = args.includes('--quick');

interface Seen {
  phases: Set<string>;
  params: unknown[];
}
const seen = new Map<string, Seen>();
let phase = 'setup';

// Record every statement as it runs (the gateway keeps prepared statements, so
// prepare() alone would miss the ones a setup step prepared first).
function recordStatements(): void {
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...a: unknown[]) => unknown>;
  probe.close();
  for (const method of ['all', 'get', 'run', 'iterate']) {
    const original = proto[method]!;
    proto[method] = function (this: { source: string }, ...params: unknown[]) {
      if (phase !== 'setup') {
        const s = seen.get(this.source) ?? { phases: new Set<string>(), params };
        s.phases.add(phase);
        seen.set(this.source, s);
      }
      return original.apply(this, params);
    };
  }
}
recordStatements();

const adapters = () => [createAndroidAdapter(), createWindowsAdapter()];
const dataDir = await mkdtemp(path.join(tmpdir(), 'mdmgw-plans-'));
if (SCALE) {
  const setup = await startTestGateway({ dataDir, adapters: adapters() });
  for (let i = 0; i < 8; i++) await setup.api.ok('POST', '/profiles', { name: `scale ${i}`, scope: 'device', subjectName: `CN={{DeviceName}},OU=S${i},O=Scale` });
  await setup.stop();
  const r = seedScale(dataDir, QUICK ? QUICK_SCALE : FULL_SCALE, (m) => console.error(m));
  console.error(`seeded in ${r.seconds} s, ${r.fileMiB} MiB`);
}
const t = await startTestGateway({ dataDir, adapters: adapters() });
try {
  const user = await t.api.ok('POST', '/users', { userPrincipalName: 'plan@contoso.com', email: 'plan@contoso.com', displayName: 'Plan' });
  for (let i = 1; i <= 3; i++) {
    const p = await t.api.ok('POST', '/profiles', { name: `p${i}`, scope: 'device', subjectName: `CN={{DeviceName}},OU=P${i},O=Plan` });
    await t.api.ok('POST', '/assignments', { profileId: p.id, userId: user.id });
  }
  const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
  const agent = new AndroidAgentSim(t.url);
  await agent.enroll(tok.enrollmentUrl);
  await agent.applyPolicy((await agent.fetchPolicy()).document!);
  await agent.fetchPolicy();
  phase = 'android policy fetch (304)';
  await agent.fetchPolicy({ conditional: true });
  phase = 'android policy fetch (200)';
  await agent.fetchPolicy();
  phase = 'setup';
  const wtok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
  const sim = new WindowsSimulator({ baseUrl: t.url, upn: 'plan@contoso.com', password: wtok.token });
  phase = 'windows enrollment (MS-MDE2)';
  await sim.enroll();
  phase = 'setup';
  await sim.session();
  await sim.session();
  phase = 'windows session';
  await sim.session();
  phase = 'admin API (setup of the enrollment)';
  const device = await t.api.ok('POST', '/devices', { name: 'plan-device', platform: 'windows' });
  const profile = await t.api.ok('POST', '/profiles', { name: 'scep', scope: 'device', subjectName: 'CN={{DeviceName}},O=Plan' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
  const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
  phase = 'SCEP enrollment';
  const enrolled = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=plan-device, O=Plan', challenge });
  phase = 'OCSP (no nonce)';
  const issuer = t.gw.authorities.current.certificate;
  const serial = new X509Certificate(enrolled.certificate!).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
  const ocsp = await fetch(`${t.url}/ocsp`, { method: 'POST', body: ocspRequest({ issuer, serial }), headers: { 'content-type': 'application/ocsp-request' } });
  if (ocsp.status !== 200) throw new Error(`OCSP: HTTP ${ocsp.status}`);
  phase = 'CRL build';
  await t.api.ok('POST', `/certificates/${serial}/revoke`, { reason: 'keyCompromise' }, 200);
  const crl = await fetch(`${t.url}/pki/crl/${t.gw.authorities.current.id}.crl`);
  if (crl.status !== 200) throw new Error(`CRL: HTTP ${crl.status}`);
  phase = 'housekeeping sweeps';
  await t.gw.housekeeping.runNow();
  for (const [name, p] of [['GET /certificates', '/certificates?limit=100'], ['GET /certificates?status=revoked', '/certificates?status=revoked&limit=100'], ['GET /certificates?expiringWithinDays=30', '/certificates?expiringWithinDays=30&limit=100'], ['GET /users', '/users?limit=100'], ['GET /audit', '/audit?limit=200'], ['GET /enrollments', '/enrollments?limit=100'], ['GET /users?q=', '/users?q=user4242&limit=100'], ['GET /users?q= (a prefix every user shares)', '/users?q=u&limit=100'], ['GET /users?contains=', '/users?contains=user4242&limit=100'], ['GET /groups', '/groups?limit=100'], ['GET /assignments', '/assignments?limit=100'], ['GET /profiles', '/profiles?limit=100']]) {
    phase = `admin API: ${name}`;
    await t.api.ok('GET', p!);
  }
  // The paged lists' cursor statements (the same SQL at any depth: the plan shows whether it seeks or walks).
  for (const [name, p, param] of [['GET /devices', '/devices?limit=100', 'after'], ['GET /users', '/users?limit=100', 'after'], ['GET /certificates', '/certificates?limit=100', 'cursor'], ['GET /audit', '/audit?limit=200', 'before'], ['GET /certificates?expiringWithinDays=30', '/certificates?expiringWithinDays=30&limit=100', 'cursor'], ['GET /groups', '/groups?limit=10', 'after'], ['GET /assignments', '/assignments?limit=10', 'after'], ['GET /profiles', '/profiles?limit=5', 'after']] as const) {
    phase = `admin API: ${name}, the next page`;
    const first = await fetch(`${t.api.base}${p}`, { headers: { authorization: `Bearer ${t.api.token}` } });
    await first.arrayBuffer();
    const next = first.headers.get('x-next-cursor');
    if (next) await t.api.ok('GET', `${p}&${param}=${next}`);
  }
  phase = 'admin API: POST /devices';
  await t.api.ok('POST', '/devices', { name: 'Plan-Laptop-7', platform: 'windows', serialNumber: 'PLAN-SN-7' });
  phase = 'setup';
  const db = new Database(path.join(t.dataDir, 'mdmgw.sqlite'), { readonly: true });
  const writer = new Database(path.join(t.dataDir, 'mdmgw.sqlite'));
  for (const [sql, s] of seen) {
    if (!/^\s*(select|update|delete|insert|with)/i.test(sql)) continue;
    let plan: string;
    try {
      plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...s.params) as { detail: string }[]).map((r) => r.detail).join('; ');
    } catch (e) {
      plan = `(not explained: ${(e as Error).message})`;
    }
    // Run again with its own parameters (writes inside a transaction rolled back): the time says whether the plan is cheap at this size.
    let timing = '';
    try {
      const stmt = (/^\s*(select|with)/i.test(sql) ? db : writer).prepare(sql);
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        if (!stmt.reader) writer.exec('begin');
        const t0 = performance.now();
        if (stmt.reader) stmt.all(...s.params);
        else stmt.run(...s.params);
        best = Math.min(best, performance.now() - t0);
        if (!stmt.reader) writer.exec('rollback');
      }
      timing = ` (${best.toFixed(2)} ms)`;
    } catch {
      if (writer.inTransaction) writer.exec('rollback');
    }
    console.log(`[${[...s.phases].join(', ')}] ${sql.replace(/\s+/g, ' ').slice(0, 260)}\n    plan: ${plan}${timing}`);
  }
  db.close();
  writer.close();
} finally {
  await t.stop();
  await rm(dataDir, { recursive: true, force: true });
}
