import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../../src/adapters/android/index.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { AndroidAgentSim } from '../../../src/sim/android.js';

// Found in the re-test of issue #15: the Android adapter keeps the challenge
// it served per policy in its per-device state (so the same one is served
// until it is used), and kept it in clear text: a copy of the database handed
// out live challenges (each one a certificate in the device's name, for up to
// the challenge lifetime). Every other secret in the database is sealed under
// DATA/secrets.key; now these are too, and reuse still works.

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [androidAdapter] });
});
afterAll(async () => {
  await t?.stop();
});

describe('Android: challenges kept in the device state', () => {
  it('are stored sealed, served again unchanged, and still enroll', async () => {
    const user = await t.api.ok('POST', '/users', { userPrincipalName: 'sealed@contoso.com', email: 'sealed@contoso.com', displayName: 'Sealed' });
    const agent = new AndroidAgentSim(t.url);
    const { deviceId } = await agent.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
    const profile = await t.api.ok('POST', '/profiles', { name: 'sealed wifi', scope: 'device', subjectName: 'CN=sealed-1,O=Contoso', scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });

    const first = await agent.fetchPolicy();
    expect(first.status).toBe(200);
    const policy = first.document!.policies.find((p) => p.id === profile.id)!;
    const challenge = policy.scep.challenge!;
    expect(challenge.length).toBeGreaterThan(20);

    const stored = JSON.stringify(await t.gw.storage.getPlatformState(deviceId, 'android'));
    expect(stored).not.toContain(challenge);
    expect(stored).toContain('sealed:v1:');

    // Reuse: the same challenge (and ETag) on the next fetch, read back from the sealed state.
    const second = await agent.fetchPolicy();
    expect(second.document!.policies.find((p) => p.id === profile.id)!.scep.challenge).toBe(challenge);
    expect(second.etag).toBe(first.etag);
    const installed = await agent.enrollPolicy(policy);
    expect(installed.certificate.length).toBeGreaterThan(0);
  });
});
