// `node --import tsx bench/query-plans.ts`: the SQL a steady-state check-in
// and a SCEP enrollment run (recorded from better-sqlite3's prepare), each
// with SQLite's EXPLAIN QUERY PLAN, for docs/performance.md. A plan line with
// "SCAN <table>" (no index) on a table that grows with devices is a full scan.
import 'reflect-metadata';
import Database from 'better-sqlite3';
import { AndroidAgentSim } from '../src/sim/android.js';
import { createAndroidAdapter } from '../src/adapters/android/index.js';
import { scepEnroll } from '../src/sim/scep-client.js';
import { startTestGateway } from '../test/helpers/gateway.js';

const seen = new Map<string, string>();
let phase = 'setup';
const proto = Database.prototype as unknown as { prepare: (sql: string) => unknown };
const prepare = proto.prepare;
proto.prepare = function (this: Database.Database, sql: string) {
  if (phase !== 'setup' && !seen.has(sql)) seen.set(sql, phase);
  return prepare.call(this, sql);
};

const t = await startTestGateway({ adapters: [createAndroidAdapter()] });
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
  phase = 'admin API (setup of the enrollment)';
  const device = await t.api.ok('POST', '/devices', { name: 'plan-device', platform: 'windows' });
  const profile = await t.api.ok('POST', '/profiles', { name: 'scep', scope: 'device', subjectName: 'CN={{DeviceName}},O=Plan' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
  const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
  phase = 'SCEP enrollment';
  await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=plan-device, O=Plan', challenge });
  phase = 'setup';
  // Statements are listed under the phase that first prepared them (better-sqlite3 caches nothing itself; Kysely prepares per query).
  const db = new Database(`${t.dataDir}/mdmgw.sqlite`, { readonly: true });
  for (const [sql, where] of seen) {
    if (!/^\s*(select|update|delete|insert)/i.test(sql)) continue;
    let plan: string;
    try {
      plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...Array(sql.split('?').length - 1).fill(null)) as { detail: string }[]).map((r) => r.detail).join('; ');
    } catch (e) {
      plan = `(not explained: ${(e as Error).message})`;
    }
    console.log(`[${where}] ${sql.replace(/\s+/g, ' ').slice(0, 220)}\n    plan: ${plan}`);
  }
  db.close();
} finally {
  await t.stop();
}
