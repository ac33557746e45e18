import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../src/adapters/android/index.js';
import { createAppleAdapter } from '../../src/adapters/apple/index.js';
import { AndroidAgentSim } from '../../src/sim/android.js';
import { AppleDeviceSim } from '../../src/sim/apple.js';
import { FakeApns, pushCertificate } from '../../src/sim/fake-apns.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { commitsOf, recordSqliteStatements } from '../helpers/sql-statements.js';

// Issue 13: the SQL of the check-in that delivers a device's 3 profiles,
// counted at better-sqlite3's statement layer on a real gateway (the SCEP
// enrollments that follow are not counted: bench/delivering.ts measures the
// CPU the same way). A device's plan reads its assigned profiles in one
// query, and an Apple Idle renders the command it sends from the plan it
// just made instead of planning the device a second time. The budgets fail a
// change that adds statements to these paths without saying so here.

/**
 * Android, the first policy fetch (3 policies to enroll): identity, generations, the state once (with its
 * version: the fast path's read, handed on to the route), lease and release, the plan, certificates, the state
 * write (compare-and-set on that version). Before: 19, then 17 (the state read by the fast path, by the route,
 * and again under the lock; android13 computes from the first read).
 */
const ANDROID_BUDGET = 15;
/**
 * Apple, the Idle connect that plans, queues nothing more and sends the first InstallProfile. Before: 45 (the device
 * planned twice), 34 (gen9), 32; apple13: the state read once, its write with the command sent (one commit, besides
 * the lease's two and the push result's three the TokenUpdate's APNs push writes meanwhile).
 */
const APPLE_IDLE_BUDGET = 26;
/** Commits of that Idle: the lease's two, the one of the plan and the sent command, the push result's three. Before: 8. */
const APPLE_IDLE_COMMITS = 6;
/** Apple, the 4 connects (Idle, then 3 answers) that fetch the 3 InstallProfile commands. Before: 127, then 112 (gen9), 95; apple13: 89. */
const APPLE_CONNECTS_BUDGET = 89;
/**
 * Apple, the TokenUpdate that plans and queues the 3 InstallProfile commands: the token, its audit record, the 3
 * commands, their pending statuses and audit records and the state in one transaction (apple13: sync.ts writes
 * through ConnectWrites), the lease's two commits besides. Before: 26 statements, 14 commits.
 */
const APPLE_TOKEN_UPDATE_BUDGET = 22;
const APPLE_TOKEN_UPDATE_COMMITS = 3;
/**
 * Commits of an Apple connect answering an InstallProfile and sent the next one: the lease's two and one for
 * everything the answer and the sent command write (deliver12: adapters/apple/connect-writes.ts). Before: 11.
 */
const APPLE_ANSWER_COMMITS = 3;

let t: TestGateway;
let apns: FakeApns;
const sql = recordSqliteStatements();
const executed = sql.executed;
/** The statements `fn` runs (the first call of each kind warms up, so count the second). */
async function statementsOf<T>(fn: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  executed.length = 0;
  sql.recording = true;
  try {
    const result = await fn();
    return { result, statements: [...executed] };
  } finally {
    sql.recording = false;
  }
}
const matching = (statements: string[], re: RegExp) => statements.filter((s) => re.test(s)).length;

let userId = '';
beforeAll(async () => {
  apns = await FakeApns.start();
  t = await startTestGateway({ adapters: [androidAdapter, createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })] });
  const push = await pushCertificate(apns.ca, 'com.apple.mgmt.External.0d6f1a2b-dlvr-4c7d-9e0f-1a2b3c4d5e6f');
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem });
  const user = await t.api.ok('POST', '/users', { userPrincipalName: 'deliver@contoso.com', email: 'deliver@contoso.com', displayName: 'Deliver' });
  userId = user.id;
  for (let i = 1; i <= 3; i++) {
    const p = await t.api.ok('POST', '/profiles', { name: `deliver ${i}`, scope: 'device', subjectName: `CN={{DeviceId}},OU=P${i},O=Deliver` });
    await t.api.ok('POST', '/assignments', { profileId: p.id, userId: user.id });
  }
});
afterAll(async () => {
  await t?.stop();
  await apns?.stop();
});

describe('SQL per delivering check-in (3 profiles)', () => {
  it(`Android: the first policy fetch runs at most ${ANDROID_BUDGET} statements, the profiles read in one`, async () => {
    let counted: string[] = [];
    for (let i = 0; i < 2; i++) {
      const agent = new AndroidAgentSim(t.url);
      await agent.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId, platform: 'android' })).enrollmentUrl);
      const { result, statements } = await statementsOf(() => agent.fetchPolicy());
      expect(result.document!.policies.map((p) => p.action)).toEqual(['enroll', 'enroll', 'enroll']);
      counted = statements;
    }
    expect(matching(counted, /from "profiles" as "p"/)).toBe(1);
    expect(matching(counted, /^select .* from "platform_state"/i)).toBe(1);
    expect(counted.length).toBeLessThanOrEqual(ANDROID_BUDGET);
  });

  it(`Apple: the TokenUpdate is one commit (at most ${APPLE_TOKEN_UPDATE_BUDGET}); the Idle that sends the first InstallProfile plans once (at most ${APPLE_IDLE_BUDGET}); the 4 connects at most ${APPLE_CONNECTS_BUDGET}`, async () => {
    let idle: string[] = [];
    let tokenUpdate: string[] = [];
    let connects = 0;
    let answerCommits: number[] = [];
    for (let i = 0; i < 2; i++) {
      const sim = new AppleDeviceSim(t.url, 'ios');
      await sim.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId, platform: 'ios' })).enrollmentUrl);
      expect((await sim.authenticate()).status).toBe(200);
      const token = await statementsOf(() => sim.tokenUpdate());
      expect(token.result.status).toBe(200);
      tokenUpdate = token.statements;
      const first = await statementsOf(() => sim.connect({ Status: 'Idle' }));
      idle = first.statements;
      connects = first.statements.length;
      let cmd = first.result;
      let installs = 0;
      answerCommits = [];
      while (cmd) {
        if ((cmd.Command as { RequestType?: string }).RequestType === 'InstallProfile') installs += 1;
        const answer = await sim.execute(cmd); // its SCEP enrollment is not counted
        const next = await statementsOf(() => sim.connect({ CommandUUID: cmd!.CommandUUID, ...answer }));
        connects += next.statements.length;
        answerCommits.push(commitsOf(next.statements));
        cmd = next.result;
      }
      expect(installs).toBe(3);
      expect(sim.installed.size).toBe(3);
    }
    // One plan: the assignments and the profiles read once, in syncDevice; the command rendered from that plan.
    expect(tokenUpdate.length).toBeLessThanOrEqual(APPLE_TOKEN_UPDATE_BUDGET);
    expect(commitsOf(tokenUpdate)).toBeLessThanOrEqual(APPLE_TOKEN_UPDATE_COMMITS);
    expect(commitsOf(idle)).toBeLessThanOrEqual(APPLE_IDLE_COMMITS);
    expect(matching(idle, /from "assignments"/)).toBe(1);
    expect(matching(idle, /from "profiles" as "p"/)).toBe(1);
    expect(idle.length).toBeLessThanOrEqual(APPLE_IDLE_BUDGET);
    expect(connects).toBeLessThanOrEqual(APPLE_CONNECTS_BUDGET);
    expect(answerCommits).toHaveLength(3);
    for (const c of answerCommits) expect(c).toBeLessThanOrEqual(APPLE_ANSWER_COMMITS);
  });
});
