import { X509Certificate, createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'plist';
import { createAppleAdapter } from '../../../src/adapters/apple/index.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { FakeApns, pushCertificate } from '../../../src/sim/fake-apns.js';
import { AppleDeviceSim, openSignedProfile } from '../../../src/sim/apple.js';

// The MDM identity (365 days) renewed before it expires: the gateway sends the
// enrollment profile again (same PayloadIdentifier, new SCEP challenge), the
// device enrolls the new identity and signs with it. The whole gateway's clock
// is moved (createGateway's `now`), so an identity that is not renewed really
// expires here.

const TOPIC = 'com.apple.mgmt.External.5c2f0e8a-9d41-4b7e-a3c6-1f8e2d4b6a90';
const DAY = 86_400_000;
let offset = 0;
const now = () => new Date(Date.now() + offset);
let t: TestGateway;
let apns: FakeApns;

beforeAll(async () => {
  apns = await FakeApns.start();
  const push = await pushCertificate(apns.ca, TOPIC);
  t = await startTestGateway({ adapters: [createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })], now });
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
});
afterAll(async () => {
  await t?.stop();
  await apns?.stop();
});

const sha1 = (der: Uint8Array) => createHash('sha1').update(der).digest('hex').toUpperCase();
async function enrolled() {
  offset = 0;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: `i${Math.random()}@contoso.com`, email: 'i@contoso.com', displayName: 'I' });
  const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' });
  const sim = new AppleDeviceSim(t.url, 'ios');
  await sim.enroll(tok.enrollmentUrl);
  expect((await sim.authenticate()).status).toBe(200);
  expect((await sim.tokenUpdate()).status).toBe(200);
  const deviceId = new X509Certificate(sim.identity!.certificate).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
  return { sim, deviceId };
}
const identities = async (deviceId: string) => (await t.api.ok('GET', `/certificates?deviceId=${deviceId}`)).filter((c: any) => c.kind === 'identity');

describe('Apple: MDM identity renewal', () => {
  it('a year on, a device that renewed is still managed; the old identity is revoked (superseded) once the new one signs', async () => {
    const { sim, deviceId } = await enrolled();
    const first = sim.identity!;
    expect(await sim.drain()).toEqual([]);

    // Day 250: not due.
    offset = 250 * DAY;
    expect(await sim.drain()).toEqual([]);

    // Day 300: inside the last 20%: the enrollment profile again, replacing the installed one.
    offset = 300 * DAY;
    const cmds = await sim.drain();
    expect(cmds.map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    const inner = parse(Buffer.from((await openSignedProfile(cmds[0]!.Command.Payload, sim.enrollment!.rootPem)).content).toString('utf8')) as any;
    expect(inner.PayloadIdentifier).toBe('com.mdm-gateway.enrollment');
    const mdm = inner.PayloadContent.find((p: any) => p.PayloadType === 'com.apple.mdm');
    expect(mdm).toMatchObject({ Topic: TOPIC, ServerURL: `${t.url}/mdm/connect`, SignMessage: true });
    expect(sha1(sim.identity!.certificate)).not.toBe(sha1(first.certificate));

    const [old, fresh] = await identities(deviceId);
    expect(fresh).toMatchObject({ renewalOf: old.serialNumber, thumbprint: sha1(sim.identity!.certificate), revokedAt: null });
    // The Acknowledged answer was signed with the new identity: the old one is revoked.
    expect(old.revocationReason).toBe('superseded');
    const signedWithOld = await fetch(sim.enrollment!.mdm.ServerURL, {
      method: 'PUT',
      headers: { 'Mdm-Signature': await sim.sign(new TextEncoder().encode('x'), first) },
      body: 'x',
    });
    expect(signedWithOld.status).toBe(401);
    expect(((await signedWithOld.json()) as { error: string }).error).toMatch(/revoked/);

    // Nothing more to renew, and day 400 (past the first identity's expiry) the device is still managed.
    expect(await sim.drain()).toEqual([]);
    offset = 400 * DAY;
    expect(await sim.drain()).toEqual([]);
  });

  it('a device that is never renewed is refused once its identity expires', async () => {
    const { sim } = await enrolled();
    offset = 366 * DAY;
    await expect(sim.drain()).rejects.toThrow(/HTTP 401.*expired/);
  });

  it('keeps the old identity when the install fails, and asks again a day later', async () => {
    const { sim, deviceId } = await enrolled();
    const first = sim.identity!;
    offset = 300 * DAY;
    sim.behaviour.failIdentityInstall = true;
    expect((await sim.drain()).map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    expect(sim.identity).toBe(first);
    // The identity issued for it is a renewal not in use: the old one still works, unrevoked.
    const certs = await identities(deviceId);
    expect(certs).toHaveLength(2);
    expect(certs[1].renewalOf).toBe(certs[0].serialNumber);
    expect(certs.every((c: any) => c.revokedAt === null)).toBe(true);
    expect(await sim.drain()).toEqual([]);

    offset = 301 * DAY + 3600_000;
    sim.behaviour.failIdentityInstall = false;
    expect((await sim.drain()).map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    const after = await identities(deviceId);
    expect(after).toHaveLength(3);
    const current = after.find((c: any) => c.thumbprint === sha1(sim.identity!.certificate));
    expect(current).toMatchObject({ revokedAt: null, renewalOf: after[0].serialNumber });
    expect(after.filter((c: any) => c !== current).map((c: any) => c.revocationReason)).toEqual(['superseded', 'superseded']);
  });
});
