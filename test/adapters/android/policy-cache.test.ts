import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAndroidAdapter } from '../../../src/adapters/android/index.js';
import { renewalDueAt } from '../../../src/core/renewal.js';
import { AndroidAgentSim } from '../../../src/sim/android.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';

// The policy fetch with nothing to do is answered from the last answer
// (src/adapters/android/policy-cache.ts, core/checkin-cache.ts): no
// deliveries prepared, so no challenge minted. Every change a plan depends on
// is still seen at the very next fetch: a directory attribute, an assignment,
// a profile version, a revocation (core/plan-generation.ts), and a kept
// certificate entering its renewal window (the entry's validUntil).

let clockMs = 0;
// The adapter's own clock: its routes and its fast path (policy-fetch.ts) both read it.
const clocked = createAndroidAdapter({ now: () => new Date(Date.now() + clockMs) });

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [clocked] });
});
afterAll(async () => {
  await t?.stop();
});

async function profileChallengesMinted(): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${t.gw.adminToken}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith('mdmgw_challenges_total{') && l.includes('kind="profile"') && l.includes('event="minted"'));
  return Number(line?.split(' ').pop() ?? 0);
}

let n = 0;
/** An agent with one installed policy (user scope, a directory attribute in its subject), polling steadily. */
async function steadyAgent(profileExtra: Record<string, unknown> = {}) {
  n += 1;
  const upn = `cache${n}@contoso.com`;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Cache ${n}`, attributes: { department: 'R&D' } });
  const group = await t.api.ok('POST', '/groups', { name: `cache-${n}` });
  await t.api.ok('POST', `/groups/${group.id}/members`, { userId: user.id });
  const profile = await t.api.ok('POST', '/profiles', { name: `Cache Wi-Fi ${n}`, scope: 'user', subjectName: 'CN={{UserPrincipalName}},OU={{user.department}},O=Contoso', validityDays: 30, ...profileExtra });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, groupId: group.id });
  const agent = new AndroidAgentSim(t.url);
  await agent.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
  const installed = await agent.applyPolicy((await agent.fetchPolicy()).document!);
  expect(installed).toHaveLength(1);
  const settled = await agent.fetchPolicy();
  expect(settled.document!.policies.map((p) => p.action)).toEqual(['keep']);
  return { agent, user, group, profile };
}

describe('Android policy fetch with nothing to do', () => {
  it('is answered without preparing deliveries (no challenge minted), 200 and 304 alike, same bytes and ETag', async () => {
    const { agent } = await steadyAgent();
    const full = await agent.fetchPolicy();
    const minted = await profileChallengesMinted();
    const again = await agent.fetchPolicy();
    expect(again.status).toBe(200);
    expect(again.etag).toBe(full.etag);
    expect(again.document).toEqual(full.document);
    for (let i = 0; i < 3; i++) expect((await agent.fetchPolicy({ conditional: true })).status).toBe(304);
    expect(await profileChallengesMinted()).toBe(minted);
    // Authentication is not cached: another certificate is refused as before.
    expect((await agent.fetchPolicy({ authenticated: false })).status).toBe(401);
  });

  it('sees a changed directory attribute at the next fetch', async () => {
    const { agent, user } = await steadyAgent();
    expect((await agent.fetchPolicy({ conditional: true })).status).toBe(304);
    await t.api.ok('PATCH', `/users/${user.id}`, { attributes: { department: 'Sales' } });
    const next = await agent.fetchPolicy({ conditional: true });
    expect(next.status).toBe(200);
    expect(next.document!.policies[0]!.scep.subject).toContain('OU=Sales');
  });

  it('sees a new assignment at the next fetch', async () => {
    const { agent, group } = await steadyAgent();
    expect((await agent.fetchPolicy({ conditional: true })).status).toBe(304);
    const added = await t.api.ok('POST', '/profiles', { name: 'Cache VPN', scope: 'user', subjectName: 'CN={{UserPrincipalName}},O=VPN' });
    await t.api.ok('POST', '/assignments', { profileId: added.id, groupId: group.id });
    const next = await agent.fetchPolicy({ conditional: true });
    expect(next.status).toBe(200);
    expect(next.document!.policies.find((p) => p.id === added.id)?.action).toBe('enroll');
  });

  it('sees a new profile version at the next fetch', async () => {
    const { agent, profile } = await steadyAgent();
    expect((await agent.fetchPolicy({ conditional: true })).status).toBe(304);
    await t.api.ok('PUT', `/profiles/${profile.id}`, { name: profile.name, scope: 'user', subjectName: 'CN={{UserPrincipalName}},OU={{user.department}},O=Contoso', validityDays: 30, keySize: 4096 });
    const next = await agent.fetchPolicy({ conditional: true });
    expect(next.status).toBe(200);
    expect(next.document!.policies[0]).toMatchObject({ id: profile.id, version: profile.version + 1, action: 'enroll' });
  });

  it('sees a revoked certificate at the next fetch (enrolls again)', async () => {
    const { agent, profile } = await steadyAgent();
    expect((await agent.fetchPolicy({ conditional: true })).status).toBe(304);
    const certs = await t.api.ok('GET', `/certificates?deviceId=${agent.deviceId}`);
    const cert = (certs.items ?? certs).find((c: { profileId: string | null }) => c.profileId === profile.id);
    await t.api.ok('POST', `/certificates/${cert.serialNumber}/revoke`, { reason: 'keyCompromise' }, 200);
    const next = await agent.fetchPolicy({ conditional: true });
    expect(next.status).toBe(200);
    expect(next.document!.policies[0]!.action).toBe('enroll');
  });

  it('asks for the renewal at the first fetch inside the renewal window, two minutes after a cached keep', async () => {
    const { agent, profile } = await steadyAgent();
    const certs = await t.api.ok('GET', `/certificates?deviceId=${agent.deviceId}`);
    const cert = (certs.items ?? certs).find((c: { profileId: string | null }) => c.profileId === profile.id);
    const due = renewalDueAt(cert, profile.renewalThresholdPercent);
    try {
      clockMs = due - 120_000 - Date.now();
      expect((await agent.fetchPolicy()).document!.policies[0]!.action).toBe('keep');
      expect((await agent.fetchPolicy({ conditional: true })).status).toBe(304);
      clockMs = due + 1_000 - Date.now();
      const next = await agent.fetchPolicy({ conditional: true });
      expect(next.status).toBe(200);
      expect(next.document!.policies[0]!.action).toBe('renew');
    } finally {
      clockMs = 0;
    }
  });
});
