import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdapterServices, PlatformAdapter } from '../../../src/core/adapter.js';
import { createAndroidAdapter } from '../../../src/adapters/android/index.js';
import type { CertificatePolicyV1 } from '../../../src/adapters/android/render.js';
import { AndroidAgentSim } from '../../../src/sim/android.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';

// Issue 13: a full policy fetch computes from the state it read for the kept
// answer (not read a second time under the device lock) and writes the new
// state compare-and-set on that read's version, with its delivery reports in
// the same transaction. A status report that lands between the read and the
// lock must not be lost: the write fails, the fetch is made again from a
// fresh read. `beforeLock` runs there (the adapter's deviceLock, wrapped).

let beforeLock: (() => Promise<void>) | undefined;
const inner = createAndroidAdapter();
const racing: PlatformAdapter<CertificatePolicyV1> = {
  ...inner,
  routes: (s: AdapterServices) => {
    const wrapped = Object.create(s) as AdapterServices;
    wrapped.deviceLock = async (id, fn) => {
      const hook = beforeLock;
      beforeLock = undefined;
      if (hook) await hook();
      return s.deviceLock(id, fn);
    };
    return inner.routes!(wrapped);
  },
  // The route is what is under test: no answer in front of Express.
  fastCheckins: undefined,
};

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [racing] });
});
afterAll(async () => {
  await t?.stop();
});

describe('Android policy fetch: one state read, written compare-and-set', () => {
  it('keeps a status report that lands between the fetch\'s read and its lock, and serves what it says', async () => {
    const user = await t.api.ok('POST', '/users', { userPrincipalName: 'race@contoso.com', email: 'race@contoso.com', displayName: 'Race' });
    const agent = new AndroidAgentSim(t.url);
    const { deviceId } = await agent.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
    const one = await t.api.ok('POST', '/profiles', { name: 'race one', scope: 'device', subjectName: 'CN=race-1,O=Contoso', scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: one.id, deviceId });
    const first = await agent.fetchPolicy();
    const policy = first.document!.policies.find((p) => p.id === one.id)!;
    expect(policy.action).toBe('enroll');
    const key = await agent.enrollPolicy(policy);

    // A second profile: the next fetch is a full one. The agent's report of the first lands in between.
    const two = await t.api.ok('POST', '/profiles', { name: 'race two', scope: 'device', subjectName: 'CN=race-2,O=Contoso', scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: two.id, deviceId });
    let reported = 0;
    beforeLock = async () => {
      const res = await agent.postStatus({
        results: [{ policyId: one.id, policyVersion: policy.version, state: 'installed', thumbprint: key.thumbprint, alias: key.alias, certificate: Buffer.from(key.certificate).toString('base64') }],
      });
      reported = res.status;
    };
    const second = await agent.fetchPolicy();
    expect(reported).toBe(204);
    expect(second.status).toBe(200);
    const actions = Object.fromEntries(second.document!.policies.map((p) => [p.id, p.action]));
    expect(actions).toEqual({ [one.id]: 'keep', [two.id]: 'enroll' });
    const stored = (await t.gw.storage.getPlatformState(deviceId, 'android')) as { installed: Record<string, { thumbprint: string }>; challenges: Record<string, unknown> };
    expect(stored.installed[one.id]?.thumbprint).toBe(key.thumbprint.toUpperCase());
    expect(Object.keys(stored.challenges)).toEqual([two.id]);
  });
});
