import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../../src/adapters/android/index.js';
import { createAppleAdapter } from '../../../src/adapters/apple/index.js';
import { FakeApns, pushCertificate } from '../../../src/sim/fake-apns.js';
import { AppleDeviceSim } from '../../../src/sim/apple.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { AndroidAgentSim } from '../../../src/sim/android.js';

// Issue #15, S3 on Android (found in the re-test): after the admin's reset of
// a device (an enrollment token made for that device), the agent that
// re-enrolls gets a new identity certificate, but the old one (on a clone, or
// a thief's copy of the agent's key) still fetched the device's policy, with
// fresh SCEP challenges for its certificates. Only the device's newest
// identity certificate speaks for it now, as on Windows.

const TOPIC = 'com.apple.mgmt.External.5e5e5e5e-0000-4000-8000-000000000002';
let t: TestGateway;
let apns: FakeApns;
beforeAll(async () => {
  apns = await FakeApns.start();
  t = await startTestGateway({ adapters: [androidAdapter, createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })] });
  const push = await pushCertificate(apns.ca, TOPIC);
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
});
afterAll(async () => {
  await t?.stop();
  await apns?.stop();
});

describe('Android: an identity certificate superseded by a re-enrollment', () => {
  it('no longer fetches the policy or posts status (401); the new one does', async () => {
    const user = await t.api.ok('POST', '/users', { userPrincipalName: 'reset@contoso.com', email: 'reset@contoso.com', displayName: 'Reset' });
    const first = new AndroidAgentSim(t.url);
    await first.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
    expect((await first.fetchPolicy()).status).toBe(200);

    // The admin's reset: a token for this very device; the agent that uses it gets a new identity.
    const reset = await t.api.ok('POST', '/enrollment-tokens', { deviceId: first.deviceId, platform: 'android' });
    const second = new AndroidAgentSim(t.url);
    await second.enroll(reset.enrollmentUrl);
    expect(second.deviceId).toBe(first.deviceId);

    const stale = await first.fetchPolicy();
    expect(stale.status).toBe(401);
    expect((stale.body as { error: string }).error).toMatch(/superseded/);
    expect((await first.postStatus({ results: [] })).status).toBe(401);
    expect((await second.fetchPolicy()).status).toBe(200);
  });

  it('Apple: a check-in signed with the superseded identity is refused (401); the new one is accepted', async () => {
    const user = await t.api.ok('POST', '/users', { userPrincipalName: 'reset-ios@contoso.com', email: 'reset-ios@contoso.com', displayName: 'Reset iOS' });
    const first = new AppleDeviceSim(t.url);
    await first.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' })).enrollmentUrl);
    expect((await first.authenticate()).status).toBe(200);
    const deviceId = /CN=([0-9a-f-]{36})/.exec(new X509Certificate(first.identity!.certificate).subject)![1]!;
    const reset = await t.api.ok('POST', '/enrollment-tokens', { deviceId, platform: 'ios' });
    const second = new AppleDeviceSim(t.url);
    Object.defineProperty(second, 'udid', { value: first.udid }); // the same hardware, wiped and enrolled again
    await second.enroll(reset.enrollmentUrl);
    const stale = await first.tokenUpdate();
    expect(stale.status).toBe(401);
    expect(((await stale.json()) as { error: string }).error).toMatch(/superseded/);
    expect((await second.authenticate()).status).toBe(200);
  });
});
