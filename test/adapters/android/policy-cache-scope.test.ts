import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../../src/adapters/android/index.js';
import { AndroidAgentSim } from '../../../src/sim/android.js';
import { scepEnroll } from '../../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';

// Which writes drop which devices' cached policy answers (core/plan-generation.ts):
// a write scoped to one device (a certificate issued to it or revoked, its
// record) drops that device's answer only; a user's attributes drop that
// user's devices; a profile or assignment change drops every device's. Two
// agents with the same profile; whether a fetch was answered from the cache
// is told by whether it resolved the device's assignments (a cached answer
// reads no plan input).

let t: TestGateway;
let profile: { id: string; name: string; version: number };
const agents: { agent: AndroidAgentSim; userId: string }[] = [];

beforeAll(async () => {
  t = await startTestGateway({ adapters: [androidAdapter] });
  const group = await t.api.ok('POST', '/groups', { name: 'scope' });
  profile = await t.api.ok('POST', '/profiles', { name: 'Scope Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceId}},OU={{user.department}},O=Scope', validityDays: 30 });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, groupId: group.id });
  for (const name of ['a', 'b']) {
    const upn = `scope-${name}@contoso.com`;
    const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: name, attributes: { department: 'R&D' } });
    await t.api.ok('POST', `/groups/${group.id}/members`, { userId: user.id });
    const agent = new AndroidAgentSim(t.url);
    await agent.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
    agents.push({ agent, userId: user.id });
  }
});
afterAll(async () => {
  await t?.stop();
});

/** Calls of `assignmentsFor` while `fn` runs: 0 when the fetch was answered from the cached plan. */
async function planned(agent: AndroidAgentSim): Promise<boolean> {
  const storage = t.gw.storage as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const own = Object.getOwnPropertyDescriptor(storage, 'assignmentsFor');
  const original = storage.assignmentsFor!;
  let calls = 0;
  storage.assignmentsFor = (...a: unknown[]) => {
    calls += 1;
    return original.apply(t.gw.storage, a);
  };
  try {
    expect((await agent.fetchPolicy({ conditional: true })).status).toBeLessThan(400);
    return calls > 0;
  } finally {
    if (own) Object.defineProperty(storage, 'assignmentsFor', own);
    else delete storage.assignmentsFor;
  }
}

/** Brings each agent to "nothing to do" with its answer cached (installing what the policy asks). */
async function settleAll(): Promise<void> {
  for (const { agent } of agents) {
    for (let i = 0; i < 3; i++) {
      const fetched = await agent.fetchPolicy();
      if (fetched.document!.policies.every((p) => p.action === 'keep')) break;
      await agent.applyPolicy(fetched.document!);
    }
    await agent.fetchPolicy();
    expect(await planned(agent)).toBe(false);
  }
}

async function plannedAfter(change: () => Promise<unknown>): Promise<[boolean, boolean]> {
  await settleAll();
  await change();
  return [await planned(agents[0]!.agent), await planned(agents[1]!.agent)];
}

const certificatesOf = async (agent: AndroidAgentSim) => {
  const certs = await t.api.ok('GET', `/certificates?deviceId=${agent.deviceId}&status=valid`);
  return ((certs.items ?? certs) as { profileId: string | null; serialNumber: string }[]).filter((c) => c.profileId === profile.id);
};

describe('cached policy answers, per device', () => {
  it("a SCEP enrollment for device A drops A's cached answer, not B's", async () => {
    const [a, b] = await plannedAfter(async () => {
      const minted = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: agents[0]!.agent.deviceId });
      const r = await scepEnroll({ scepUrl: t.scepUrl, subject: minted.subject, challenge: minted.challenge });
      expect(r.status).toBe('SUCCESS');
    });
    expect({ a, b }).toEqual({ a: true, b: false });
  });

  it("a revocation of A's certificate drops A's cached answer (A enrolls again), not B's", async () => {
    const [a, b] = await plannedAfter(async () => {
      // Every one A holds for the profile (the test above enrolled a second one).
      for (const c of await certificatesOf(agents[0]!.agent)) await t.api.ok('POST', `/certificates/${c.serialNumber}/revoke`, { reason: 'keyCompromise' }, 200);
    });
    expect({ a, b }).toEqual({ a: true, b: false });
    expect((await agents[0]!.agent.fetchPolicy()).document!.policies[0]!.action).toBe('enroll');
  });

  it("a change to A's device record drops A's cached answer, not B's (the record is in the key too)", async () => {
    const [a, b] = await plannedAfter(() => t.api.ok('PATCH', `/devices/${agents[0]!.agent.deviceId}`, { attributes: { floor: '2' } }));
    expect({ a, b }).toEqual({ a: true, b: false });
  });

  it("a directory attribute of B's user drops B's cached answer (new subject), not A's", async () => {
    const [a, b] = await plannedAfter(() => t.api.ok('PATCH', `/users/${agents[1]!.userId}`, { attributes: { department: 'Sales' } }));
    expect({ a, b }).toEqual({ a: false, b: true });
    const next = await agents[1]!.agent.fetchPolicy();
    expect(next.document!.policies[0]!.scep.subject).toContain('OU=Sales');
  });

  it('a new profile version drops every cached answer', async () => {
    const [a, b] = await plannedAfter(() =>
      t.api.ok('PUT', `/profiles/${profile.id}`, { name: profile.name, scope: 'device', subjectName: 'CN={{DeviceId}},OU={{user.department}},O=Scope', validityDays: 31 }),
    );
    expect({ a, b }).toEqual({ a: true, b: true });
  });

  it('an assignment anywhere drops every cached answer', async () => {
    const [a, b] = await plannedAfter(async () => {
      const other = await t.api.ok('POST', '/profiles', { name: 'Elsewhere', scope: 'device', subjectName: 'CN={{DeviceId}},O=Elsewhere' });
      const nobody = await t.api.ok('POST', '/devices', { name: 'elsewhere', platform: 'windows' });
      await t.api.ok('POST', '/assignments', { profileId: other.id, deviceId: nobody.id });
    });
    expect({ a, b }).toEqual({ a: true, b: true });
  });
});
