import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { windowsAdapter } from '../../src/adapters/windows/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { commitsOf, recordSqliteStatements } from '../helpers/sql-statements.js';
import { enrolledWindowsDevice } from '../helpers/windows-device.js';

// Issue 13: the SQL one Windows OMA-DM session with nothing to do runs (a
// device with 3 installed profiles; 2 messages), counted at better-sqlite3's
// statement layer on a real gateway. Per message: the identity (certificate,
// device, enrollment), the state read with its version and its compare-and-set
// write (no device lease rows: core/device-lock.ts); the first message's plan
// adds 7: the groups of device and user (one query), the assignments, the
// profiles (one query), the profile certificates and pending removals (the
// removal reconcile), the user, the device's certificates (revocation check).
// Before: 24 statements, 6 commits (the lease insert and delete per message,
// a group query per member and a profile query per profile). Since win12 the
// plan of a session whose inputs did not change since a plan that found
// nothing to do is not made (adapters/windows/plan-memo.ts): its first message
// reads the plan generations instead of the 7 (per message: the identity, the
// state, its write; 7 in all, was 17). The identity read returns the plan
// generations (checkin12), which the memo now keys on: 6.
const STATEMENT_BUDGET = 6;
/** The state write of each message (it records the MsgIDs, which a replay is refused by). */
const COMMIT_BUDGET = 2;
/**
 * The first session of a device with 3 profiles to install (windeliver13): the first message
 * plans (the reads above), mints the 3 challenges and writes the 3 pending reports, their audit
 * records and the state in one transaction; the second takes the statuses of the 3 installs
 * (enrolling) in one transaction, and no longer plans again (it read and resolved every
 * assignment a second time: the statuses of this session's own installs changed the plan key):
 * 24 statements, was 30.
 */
const DELIVERING_STATEMENT_BUDGET = 24;
const DELIVERING_COMMIT_BUDGET = 2;

let t: TestGateway;
const sql = recordSqliteStatements();
const executed = sql.executed;

beforeAll(async () => {
  t = await startTestGateway({ adapters: [windowsAdapter] });
});
afterAll(async () => {
  await t?.stop();
});

describe('SQL per Windows OMA-DM session', () => {
  it(`a session with nothing to do runs at most ${STATEMENT_BUDGET} statements and ${COMMIT_BUDGET} commits`, async () => {
    const { sim, deviceId } = await enrolledWindowsDevice(t, { upn: 'sql-win@contoso.com', label: 'Sql' });
    expect((await sim.session()).enrolled).toHaveLength(3);
    await sim.session(); // reports them installed
    const deliveries = await t.api.ok('GET', `/devices/${deviceId}/deliveries`);
    expect(deliveries.map((d: { state: string }) => d.state)).toEqual(['installed', 'installed', 'installed']);
    await sim.session(); // plans, finds nothing to do: kept (adapters/windows/plan-memo.ts)

    executed.length = 0;
    sql.recording = true;
    const log = await sim.session();
    sql.recording = false;
    expect(log.messages).toHaveLength(2);
    expect(executed.filter((s) => /leases/i.test(s))).toEqual([]);
    expect(executed.length, executed.join('\n')).toBeLessThanOrEqual(STATEMENT_BUDGET);
    expect(commitsOf(executed), executed.join('\n')).toBeLessThanOrEqual(COMMIT_BUDGET);
    console.info(`windows session with nothing to do: ${executed.length} statements, ${commitsOf(executed)} commits\n${executed.join('\n')}`);
  });

  it(`the delivering session (3 installs) runs at most ${DELIVERING_STATEMENT_BUDGET} statements and ${DELIVERING_COMMIT_BUDGET} commits in its 2 messages`, async () => {
    const { sim } = await enrolledWindowsDevice(t, { upn: 'sql-win-deliver@contoso.com', label: 'SqlDeliver' });
    // Only the OMA-DM messages are recorded, not the SCEP enrollments the simulator makes after the session.
    const post = sim.post.bind(sim);
    executed.length = 0;
    sim.post = async (xml, headers) => {
      sql.recording = true;
      try {
        return await post(xml, headers);
      } finally {
        sql.recording = false;
      }
    };
    const log = await sim.session();
    expect(log.messages).toHaveLength(2);
    expect(log.enrolled.map((e) => e.status)).toEqual([1, 1, 1]);
    expect(executed.length, executed.join('\n')).toBeLessThanOrEqual(DELIVERING_STATEMENT_BUDGET);
    expect(commitsOf(executed), executed.join('\n')).toBeLessThanOrEqual(DELIVERING_COMMIT_BUDGET);
    console.info(`windows delivering session: ${executed.length} statements, ${commitsOf(executed)} commits\n${executed.join('\n')}`);
  });
});
