import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { commitsOf, recordSqliteStatements } from '../helpers/sql-statements.js';

// Issue 13: the SQL one steady-state SCEP enrollment runs, counted at
// better-sqlite3's statement layer on a real gateway. Every CRP check and the
// issuing transaction stay; what was read twice (the target device, the
// profile version's issuer) is read once. The budget fails a change that adds
// a statement to the hot path without saying so here.

// 11 reads and writes, begin and commit of the issuing transaction (which
// also writes the enrollment's three audit records, one multi-row insert:
// core/enrollment.ts, and advances the device's plan generation in the
// UPDATE that re-checks its block: core/plan-generation.ts, so check-ins see
// the new certificate and only this device's cached answer is dropped).
// Before: 17, with the three audit records each in a commit of its own; 15
// with a global plan-generation bump committed after the issuing write; 14
// with the identity-renewal link looked up for a profile certificate too; 13
// with the device's groups and the assignments read apart (isProfileAssigned);
// 9 with the CRP's read cache (core/crp/read-cache.ts): the profile, the
// device and whether the profile is assigned are kept under the plan
// generations, read in the used-challenge statement (the first enrollment
// reads them, the second is counted).
const STATEMENT_BUDGET = 9;
/** The issuing transaction only (before: 5, each audit record committed on its own; then 2, the plan-generation bump on its own). */
const COMMIT_BUDGET = 1;

let t: TestGateway;
const sql = recordSqliteStatements();
const executed = sql.executed;

beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t?.stop();
});

describe('SQL per SCEP enrollment', () => {
  it(`issues with at most ${STATEMENT_BUDGET} statements, the device and the profile's issuer read once`, async () => {
    const device = await t.api.ok('POST', '/devices', { name: 'sql-device', platform: 'windows' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'sql', scope: 'device', subjectName: 'CN={{DeviceName}},O=Sql' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    let transactionId = '';
    for (let i = 0; i < 2; i++) {
      const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
      // The first enrollment warms what is remembered (the profile version's issuer); the second is counted.
      sql.recording = i === 1;
      const r = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=sql-device, O=Sql', challenge });
      sql.recording = false;
      expect(r.status).toBe('SUCCESS');
      transactionId = r.transactionId;
    }
    const count = (re: RegExp) => executed.filter((s) => re.test(s)).length;
    const at = (re: RegExp) => executed.findIndex((s) => re.test(s));
    // The device's row is not read: its plan generation is, with the challenge's use (the read cache's key).
    expect(count(/^select \* from "devices"/)).toBe(0);
    expect(count(/^select \(select "id" from "used_challenges" where "id" = \?\) as "used", .*"plan_generation" from "devices"/)).toBe(1);
    expect(count(/from "profiles"/)).toBe(0);
    // Still there: the challenge spent, the certificate and enrollment recorded, the block re-checked, in one transaction.
    expect(count(/^insert into "used_challenges"/)).toBe(1);
    expect(count(/^insert into "certificates"/)).toBe(1);
    expect(count(/^insert into "enrollments"/)).toBe(1);
    expect(count(/^update "devices" set "plan_generation" = "plan_generation" \+ \?/)).toBe(1);
    // The device's plan generation moves inside the issuing transaction; the global one does not move.
    expect(count(/^insert into "settings"/)).toBe(0);
    expect(at(/^update "devices" set "plan_generation"/)).toBeLessThan(at(/^commit/));
    // The three audit records: one insert, inside the issuing transaction, after the certificate.
    expect(count(/^insert into "audit_events"/)).toBe(1);
    // Only an identity enrollment can spend a challenge noted as an identity renewal.
    expect(count(/from "identity_renewal_challenges"/)).toBe(0);
    // Whether the profile is still assigned: kept with the device's reads (one statement when read: the cold enrollment).
    expect(count(/from "group_members"/)).toBe(0);
    expect(count(/^select \(exists \(select "id" from "assignments"/)).toBe(0);
    expect(at(/^insert into "audit_events"/)).toBeGreaterThan(at(/^insert into "certificates"/));
    expect(at(/^insert into "audit_events"/)).toBeLessThan(at(/^commit/));
    expect(commitsOf(executed)).toBeLessThanOrEqual(COMMIT_BUDGET);
    expect(executed.length).toBeLessThanOrEqual(STATEMENT_BUDGET);
    // The same records, in the same order, as when each was appended on its own.
    const trail = (await t.api.ok('GET', `/audit?transactionId=${transactionId}`)) as { type: string; details: Record<string, unknown> }[];
    expect(trail.map((e) => e.type)).toEqual(['scep.received', 'crp.passed', 'ca.issued']);
    expect(trail[0]!.details).toMatchObject({ messageType: 'PKCSReq', subject: 'CN=sql-device, O=Sql' });
    expect(trail[2]!.details).toMatchObject({ subject: expect.stringContaining('sql-device') });
    expect(typeof trail[2]!.details.serialNumber).toBe('string');
  });
});
