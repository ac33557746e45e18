import { X509Certificate, createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'plist';
import { createAppleAdapter } from '../../../src/adapters/apple/index.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { FakeApns, pushCertificate } from '../../../src/sim/fake-apns.js';
import { AppleDeviceSim, openSignedProfile } from '../../../src/sim/apple.js';

// Renewal before expiry, end to end: the adapter's clock (createAppleAdapter's
// `now`, this gateway's only) is moved into the profile's renewal threshold,
// and the device gets the profile again, enrolls a new certificate over real
// SCEP and replaces the old one. Core and its CA keep the real clock.

const TOPIC = 'com.apple.mgmt.External.7d0b5a2e-1c3f-4e6a-9b8d-2f4e6a8c0d1e';
const DAY = 86_400_000;
let offset = 0;
let t: TestGateway;
let apns: FakeApns;

beforeAll(async () => {
  apns = await FakeApns.start();
  const push = await pushCertificate(apns.ca, TOPIC);
  t = await startTestGateway({ adapters: [createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem, now: () => new Date(Date.now() + offset) })] });
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
});
afterAll(async () => {
  await t?.stop();
  await apns?.stop();
});

const sha1 = (der: Uint8Array) => createHash('sha1').update(der).digest('hex').toUpperCase();

describe('Apple adapter: renewal before expiry', () => {
  it('re-sends the profile inside the renewal threshold; the device enrolls again and the new certificate replaces the old', async () => {
    const user = await t.api.ok('POST', '/users', { userPrincipalName: 'renew@contoso.com', email: 'renew@contoso.com', displayName: 'Renew' });
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' });
    const sim = new AppleDeviceSim(t.url, 'ios');
    await sim.enroll(tok.enrollmentUrl);
    const deviceId = new X509Certificate(sim.identity!.certificate).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
    // 10 days, renewed in the last 20%: from about day 8.
    const profile = await t.api.ok('POST', '/profiles', { name: 'Short-lived', scope: 'device', subjectName: 'CN={{DeviceName}},O=Contoso', validityDays: 10, renewalThresholdPercent: 20 });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    const identifier = `com.mdm-gateway.profile.${profile.id}`;
    const delivery = async () => (await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).find((d: any) => d.profileId === profile.id);
    const issued = async () => (await t.api.ok('GET', `/certificates?deviceId=${deviceId}`)).filter((c: any) => c.profileId === profile.id);

    expect((await sim.authenticate()).status).toBe(200);
    expect((await sim.tokenUpdate()).status).toBe(200);
    expect((await sim.drain()).map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    const [first] = await issued();
    expect(await delivery()).toMatchObject({ state: 'installed', thumbprint: first.thumbprint, certificateSerial: first.serialNumber });

    // Day 7 (about 70% used): not yet.
    offset = 7 * DAY;
    expect(await sim.drain()).toEqual([]);

    // Day 9: inside the threshold.
    offset = 9 * DAY;
    const renewal = await sim.drain();
    expect(renewal.map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    const inner = parse(Buffer.from((await openSignedProfile(renewal[0]!.Command.Payload, sim.enrollment!.rootPem)).content).toString('utf8')) as any;
    expect(inner.PayloadIdentifier).toBe(identifier);

    // A second real SCEP enrollment: a new certificate, which is what the device now holds, reported right away.
    const certs = await issued();
    expect(certs).toHaveLength(2);
    const second = certs.find((c: any) => c.serialNumber !== first.serialNumber);
    expect(second.thumbprint).not.toBe(first.thumbprint);
    expect(sim.installed.size).toBe(1);
    expect(sha1(sim.installed.get(identifier)!.certificate!)).toBe(second.thumbprint);
    expect(await delivery()).toMatchObject({ state: 'installed', profileVersion: 1, thumbprint: second.thumbprint, certificateSerial: second.serialNumber });
    // The certificate it replaced is revoked (superseded) once the new one is reported installed; the new one is not.
    expect((await issued()).find((c: any) => c.serialNumber === first.serialNumber)).toMatchObject({ revocationReason: 'superseded' });
    expect((await issued()).find((c: any) => c.serialNumber === second.serialNumber)).toMatchObject({ revokedAt: null });
    expect((await t.api.ok('GET', '/audit?type=certificate.superseded')).some((e: any) => e.details.successor === second.serialNumber && e.details.profileId === profile.id)).toBe(true);
    const reports = await t.api.ok('GET', '/audit?type=device.report');
    expect(reports.some((r: any) => r.details.profileId === profile.id && r.details.state === 'pending' && /renewal: certificate .*stays installed/.test(r.details.detail))).toBe(true);
    const cmds = (await t.api.ok('GET', `/apple/devices/${deviceId}/commands`)).filter((c: any) => c.kind === 'InstallProfile');
    expect(cmds.map((c: any) => c.status)).toEqual(['acknowledged', 'acknowledged']);

    // The new certificate is young again by the real clock: nothing more to do.
    offset = 0;
    expect(await sim.drain()).toEqual([]);
  });
});
