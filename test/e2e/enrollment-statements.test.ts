import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Issue 13: the SQL one steady-state SCEP enrollment runs, counted at
// better-sqlite3's statement layer on a real gateway. Every CRP check and the
// issuing transaction stay; what was read twice (the target device, the
// profile version's issuer) is read once. The budget fails a change that adds
// a statement to the hot path without saying so here.

// 16, plus the plan-generation bump after the issuing write (core/plan-generation.ts: check-ins see the new certificate).
const STATEMENT_BUDGET = 17;

let t: TestGateway;
const executed: string[] = [];
let recording = false;

beforeAll(async () => {
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...a: unknown[]) => unknown>;
  probe.close();
  for (const m of ['run', 'get', 'all', 'iterate']) {
    const original = proto[m]!;
    proto[m] = function (this: { source: string }, ...args: unknown[]) {
      if (recording) executed.push(this.source.replace(/\s+/g, ' '));
      return original.apply(this, args);
    };
  }
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
    for (let i = 0; i < 2; i++) {
      const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
      // The first enrollment warms what is remembered (the profile version's issuer); the second is counted.
      recording = i === 1;
      const r = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=sql-device, O=Sql', challenge });
      recording = false;
      expect(r.status).toBe('SUCCESS');
    }
    const count = (re: RegExp) => executed.filter((s) => re.test(s)).length;
    expect(count(/from "devices" where "id" = \?/)).toBe(1);
    expect(count(/from "profiles"/)).toBe(1);
    // Still there: the challenge spent, the certificate and enrollment recorded, the block re-checked, in one transaction.
    expect(count(/^insert into "used_challenges"/)).toBe(1);
    expect(count(/^insert into "certificates"/)).toBe(1);
    expect(count(/^insert into "enrollments"/)).toBe(1);
    expect(count(/^update "devices" set "blocked_at"/)).toBe(1);
    expect(count(/^insert into "audit_events"/)).toBeGreaterThanOrEqual(3);
    expect(count(/^insert into "settings"/)).toBe(1);
    expect(executed.length).toBeLessThanOrEqual(STATEMENT_BUDGET);
  });
});
