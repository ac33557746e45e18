import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppleAdapter } from '../../../src/adapters/apple/index.js';
import { renewalDueAt } from '../../../src/core/renewal.js';
import { AppleDeviceSim } from '../../../src/sim/apple.js';
import { FakeApns, pushCertificate } from '../../../src/sim/fake-apns.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';

// Idle with nothing to do is answered with the empty 200 kept from the last
// one (src/adapters/apple/idle-cache.ts): no deliveries prepared, so no
// challenge minted. What an Idle must react to is still seen at the very
// next one: a revoked certificate (core/plan-generation.ts), a command the
// admin queued, and a certificate entering its renewal window (validUntil).

const TOPIC = 'com.apple.mgmt.External.0d6f1a2b-idle-4c7d-9e0f-1a2b3c4d5e6f';
let clockMs = 0;
let t: TestGateway;
let apns: FakeApns;

beforeAll(async () => {
  apns = await FakeApns.start();
  t = await startTestGateway({ adapters: [createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem, now: () => new Date(Date.now() + clockMs) })] });
  const push = await pushCertificate(apns.ca, TOPIC);
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem });
});
afterAll(async () => {
  await t?.stop();
  await apns?.stop();
});

async function profileChallengesMinted(): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${t.gw.adminToken}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith('mdmgw_challenges_total{') && l.includes('kind="profile"') && l.includes('event="minted"'));
  return Number(line?.split(' ').pop() ?? 0);
}

let n = 0;
/** An enrolled iPhone holding one certificate profile, its Idle answered empty. */
async function steadyDevice() {
  n += 1;
  const upn = `idle${n}@contoso.com`;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Idle ${n}` });
  const profile = await t.api.ok('POST', '/profiles', { name: `Idle Wi-Fi ${n}`, scope: 'user', subjectName: 'CN={{UserPrincipalName}},O=Contoso', validityDays: 30 });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, userId: user.id });
  const sim = new AppleDeviceSim(t.url, 'ios');
  await sim.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' })).enrollmentUrl);
  const deviceId = new X509Certificate(sim.identity!.certificate).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
  expect((await sim.authenticate()).status).toBe(200);
  expect((await sim.tokenUpdate()).status).toBe(200);
  expect((await sim.drain()).map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
  await sim.drain();
  expect(await sim.connect({ Status: 'Idle' })).toBeNull();
  return { sim, deviceId, profile };
}

describe('Apple Idle with nothing to do', () => {
  it('is answered empty without preparing deliveries (no challenge minted); the signature is still checked', async () => {
    const { sim } = await steadyDevice();
    const minted = await profileChallengesMinted();
    for (let i = 0; i < 3; i++) expect(await sim.connect({ Status: 'Idle' })).toBeNull();
    expect(await profileChallengesMinted()).toBe(minted);
    expect((await sim.put(sim.enrollment!.mdm.ServerURL, { UDID: sim.udid, Status: 'Idle' }, { tamper: true })).status).toBe(401);
    expect((await sim.put(sim.enrollment!.mdm.ServerURL, { UDID: 'ANOTHER-UDID', Status: 'Idle' })).status).toBe(403);
  });

  it('sees a revoked certificate at the next Idle (installs the profile again)', async () => {
    const { sim, deviceId, profile } = await steadyDevice();
    expect(await sim.connect({ Status: 'Idle' })).toBeNull();
    const cert = (await t.api.ok('GET', `/certificates?deviceId=${deviceId}`)).find((c: { profileId: string | null }) => c.profileId === profile.id);
    await t.api.ok('POST', `/certificates/${cert.serialNumber}/revoke`, { reason: 'keyCompromise' }, 200);
    const next = await sim.connect({ Status: 'Idle' });
    expect(next?.Command?.RequestType).toBe('InstallProfile');
  });

  // The queue is read on every cached Idle too; here the push the admin's command sends also changes the stored state.
  it('sends a command the admin queued at the next Idle', async () => {
    const { sim, deviceId } = await steadyDevice();
    expect(await sim.connect({ Status: 'Idle' })).toBeNull();
    await t.api.ok('POST', `/apple/devices/${deviceId}/commands`, { kind: 'ProfileList' }, 201);
    const next = await sim.connect({ Status: 'Idle' });
    expect(next?.Command?.RequestType).toBe('ProfileList');
  });

  it('queues the renewal at the first Idle inside the renewal window, two minutes after a cached empty answer', async () => {
    const { sim, deviceId, profile } = await steadyDevice();
    const cert = (await t.api.ok('GET', `/certificates?deviceId=${deviceId}`)).find((c: { profileId: string | null }) => c.profileId === profile.id);
    const due = renewalDueAt(cert, profile.renewalThresholdPercent);
    try {
      clockMs = due - 120_000 - Date.now();
      expect(await sim.connect({ Status: 'Idle' })).toBeNull();
      expect(await sim.connect({ Status: 'Idle' })).toBeNull();
      clockMs = due + 1_000 - Date.now();
      const next = await sim.connect({ Status: 'Idle' });
      expect(next?.Command?.RequestType).toBe('InstallProfile');
    } finally {
      clockMs = 0;
    }
  });
});
