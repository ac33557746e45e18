import { X509Certificate, createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppleAdapter } from '../../../src/adapters/apple/index.js';
import { toPem } from '../../../src/pem.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { describeWithReference } from '../../helpers/reference.js';
import { validateConfigurationProfile, validateMessage } from './apple-schema.js';
import { FakeApns, pushCertificate, type Pem } from '../../../src/sim/fake-apns.js';
import { AppleDeviceSim, openSignedProfile } from '../../../src/sim/apple.js';
import { malformedMdmSignature } from './malformed-cms.js';
import * as asn1js from 'asn1js';
import { parse } from 'plist';

// The Apple adapter end to end: a real gateway, a fake APNs over HTTP/2 TLS
// with client-certificate checks, and a simulated device that enrolls, checks
// in, gets pushed, installs profiles with real SCEP enrollments and reports.
// What they exchange is checked against Apple's schemas in the last block
// (when MDMGW_REFERENCE_DIR has them).

const TOPIC = 'com.apple.mgmt.External.2f1c0f3e-8a5b-4c7d-9e0f-1a2b3c4d5e6f';
let t: TestGateway;
let apns: FakeApns;
let push: Pem;

beforeAll(async () => {
  apns = await FakeApns.start();
  push = await pushCertificate(apns.ca, TOPIC);
  t = await startTestGateway({ adapters: [createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })] });
});
afterAll(async () => {
  await t?.stop();
  await apns?.stop();
});

async function token(body: Record<string, unknown>): Promise<{ token: string; enrollmentUrl: string }> {
  return t.api.ok('POST', '/enrollment-tokens', body);
}

async function enrolledSim(platform: 'ios' | 'macos' = 'ios', userId?: string): Promise<{ sim: AppleDeviceSim; deviceId: string }> {
  const u = userId ?? (await t.api.ok('POST', '/users', { userPrincipalName: `u${Date.now()}${Math.random()}@contoso.com`, email: `u${Date.now()}@contoso.com`, displayName: 'U' })).id;
  const tok = await token({ userId: u, platform });
  const sim = new AppleDeviceSim(t.url, platform);
  await sim.enroll(tok.enrollmentUrl);
  const deviceId = new X509Certificate(sim.identity!.certificate).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
  return { sim, deviceId };
}

/** A user-scope VPN profile with UPN and email SANs, exportable key (two suites install it). */
const userVpnProfile = (name: string) => ({
  name,
  scope: 'user',
  subjectName: 'CN={{UserPrincipalName}},O=Contoso',
  subjectAlternativeNames: [
    { type: 'upn', value: '{{UserPrincipalName}}' },
    { type: 'email', value: '{{EmailAddress}}' },
  ],
  keyUsage: ['digitalSignature', 'keyEncipherment'],
  keyExportable: true,
});

describe('Apple adapter end to end', () => {
  it('refuses to enroll without a push certificate, without spending the token', async () => {
    const u = await t.api.ok('POST', '/users', { userPrincipalName: 'early@contoso.com', email: 'early@contoso.com', displayName: 'Early' });
    const tok = await token({ userId: u.id, platform: 'ios' });
    expect(tok.enrollmentUrl).toBe(`${t.url}/mdm/enroll?token=${tok.token}`);
    const r = await fetch(tok.enrollmentUrl);
    expect(r.status).toBe(503);
    expect(((await r.json()) as any).error).toMatch(/push certificate/);

    const bad = await t.api.call('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: (await pushCertificate(apns.ca, TOPIC)).keyPem });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/does not belong/);
    const up = await t.api.call('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem });
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ topic: TOPIC });
    expect(JSON.stringify(up.body)).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(await t.api.ok('GET', '/audit?type=apple.push-certificate.uploaded'))).not.toContain('PRIVATE KEY');
    // The same token still works now.
    expect((await fetch(tok.enrollmentUrl)).status).toBe(200);
  });

  it('enrolls, checks in, is pushed, installs two certificate profiles over real SCEP, and the admin sees it', async () => {
    const user = await t.api.ok('POST', '/users', { userPrincipalName: 'lin@contoso.com', email: 'Lin.Chen@contoso.com', displayName: 'Lin Chen' });
    const group = await t.api.ok('POST', '/groups', { name: 'apple-staff' });
    await t.api.ok('POST', `/groups/${group.id}/members`, { userId: user.id });
    const userProfile = await t.api.ok('POST', '/profiles', userVpnProfile('User VPN'));
    await t.api.ok('POST', '/assignments', { profileId: userProfile.id, groupId: group.id });

    const tok = await token({ userId: user.id, platform: 'ios' });
    const sim = new AppleDeviceSim(t.url, 'ios');
    await sim.enroll(tok.enrollmentUrl);
    expect(sim.enrollment!.mdm).toMatchObject({ Topic: TOPIC, ServerURL: `${t.url}/mdm/connect`, CheckInURL: `${t.url}/mdm/checkin`, SignMessage: true, CheckOutWhenRemoved: true });
    const identity = new X509Certificate(sim.identity!.certificate);
    const deviceId = identity.subject.match(/CN=([0-9a-f-]{36})/)![1]!;
    const device = await t.api.ok('GET', `/devices/${deviceId}`);
    expect(device).toMatchObject({ platform: 'ios', userId: user.id });
    // A device-scope profile assigned to the new device directly.
    const devProfile = await t.api.ok('POST', '/profiles', { name: 'Device Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}},OU={{SerialNumber}},O=Contoso', subjectAlternativeNames: [{ type: 'dns', value: 'dev.contoso.com' }] });
    await t.api.ok('POST', '/assignments', { profileId: devProfile.id, deviceId });

    // The token was spent.
    const again = await fetch(tok.enrollmentUrl);
    expect(again.status).toBe(401);
    expect(((await again.json()) as any).error).toMatch(/used/);

    expect((await sim.authenticate()).status).toBe(200);
    // What the device says about itself is kept as reported values; the admin set no name or serial.
    expect(await t.api.ok('GET', `/devices/${deviceId}`)).toMatchObject({ name: null, serialNumber: null, reported: { name: sim.deviceName, serialNumber: sim.serial, conflicts: [] } });

    const before = apns.pushes.length;
    expect((await sim.tokenUpdate()).status).toBe(200);
    const [p] = (await apns.waitForPushes(before + 1)).slice(before);
    expect(p!.path).toBe(`/3/device/${sim.token.toString('hex')}`);
    expect(p!.headers['apns-topic']).toBe(TOPIC);
    expect(p!.headers['apns-push-type']).toBe('mdm');
    expect(JSON.parse(p!.body)).toEqual({ mdm: sim.pushMagic });
    expect(p!.clientSubject).toContain(`UID=${TOPIC}`);

    const pending = await t.api.ok('GET', `/devices/${deviceId}/deliveries`);
    expect(pending.map((d: any) => d.state).sort()).toEqual(['pending', 'pending']);

    const seen = await sim.drain();
    // The thumbprints come from our issuance records: no CertificateList round trip.
    expect(seen.map((c) => c.Command.RequestType)).toEqual(['InstallProfile', 'InstallProfile']);
    expect(sim.installed.size).toBe(2);

    const certs = await t.api.ok('GET', `/certificates?deviceId=${deviceId}`);
    const profileCerts = certs.filter((c: any) => c.kind === 'profile');
    expect(profileCerts.map((c: any) => c.profileId).sort()).toEqual([userProfile.id, devProfile.id].sort());
    const deliveries = await t.api.ok('GET', `/devices/${deviceId}/deliveries`);
    for (const pid of [userProfile.id, devProfile.id]) {
      const d = deliveries.find((x: any) => x.profileId === pid);
      const cert = profileCerts.find((c: any) => c.profileId === pid);
      expect(d).toMatchObject({ state: 'installed', thumbprint: cert.thumbprint, certificateSerial: cert.serialNumber });
      expect(d.detail).toMatch(/certificate this gateway issued/);
    }
    const onDevice = [...sim.installed.values()].map((i) => createHash('sha1').update(i.certificate!).digest('hex').toUpperCase()).sort();
    expect(onDevice).toEqual(profileCerts.map((c: any) => c.thumbprint).sort());
    const userCert = new X509Certificate(sim.installed.get(`com.mdm-gateway.profile.${userProfile.id}`)!.certificate!);
    expect(userCert.subjectAltName).toContain('email:Lin.Chen@contoso.com');
    const cmds = await t.api.ok('GET', `/apple/devices/${deviceId}/commands`);
    expect(cmds.every((c: any) => c.status === 'acknowledged')).toBe(true);

    // Nothing more to do: an Idle gets an empty answer, and no profile is queued twice.
    expect(await sim.drain()).toEqual([]);

    // A new profile version replaces the installed one (same identifier).
    await t.api.ok('PUT', `/profiles/${devProfile.id}`, { name: 'Device Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}},OU=v2,O=Contoso', subjectAlternativeNames: [{ type: 'dns', value: 'dev.contoso.com' }] }, 200);
    const v2 = await sim.drain();
    expect(v2.map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    expect(sim.installed.size).toBe(2);
    const after = (await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).find((x: any) => x.profileId === devProfile.id);
    expect(after).toMatchObject({ profileVersion: 2, state: 'installed' });
    expect(after.certificateSerial).not.toBeNull();

    // A profile the user removed by hand shows up missing in a ProfileList and is installed again.
    sim.installed.delete(`com.mdm-gateway.profile.${userProfile.id}`);
    const listed = await t.api.ok('POST', `/apple/devices/${deviceId}/commands`, { kind: 'ProfileList' });
    expect(listed.push).toMatchObject({ sent: true });
    const relist = await sim.drain();
    expect(relist.map((c) => c.Command.RequestType)).toEqual(['ProfileList', 'InstallProfile']);
    expect(sim.installed.has(`com.mdm-gateway.profile.${userProfile.id}`)).toBe(true);
    const plCmd = (await t.api.ok('GET', `/apple/devices/${deviceId}/commands`)).find((c: any) => c.id === listed.command.id);
    expect(plCmd.result.ProfileList).toHaveLength(1);

    // Unassigning removes it from the device.
    const assignments = await t.api.ok('GET', `/assignments?profileId=${devProfile.id}`);
    for (const a of assignments) await t.api.call('DELETE', `/assignments/${a.id}`);
    const rm = await sim.drain();
    expect(rm.map((c) => c.Command.RequestType)).toEqual(['RemoveProfile']);
    expect(sim.installed.has(`com.mdm-gateway.profile.${devProfile.id}`)).toBe(false);
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).find((x: any) => x.profileId === devProfile.id).state).toBe('removed');

    // CheckOut: the enrollment is gone; connect is refused afterwards.
    expect((await sim.checkout()).status).toBe(200);
    expect((await t.api.ok('GET', `/apple/devices/${deviceId}`)).enrolled).toBe(false);
    await expect(sim.connect({ Status: 'Idle' })).rejects.toThrow(/401/);
    // The old identity certificate cannot bring the enrollment back (CheckOut revoked it: docs/lifecycle.md); a new token can.
    const back = await sim.authenticate();
    expect(back.status).toBe(401);
    expect(((await back.json()) as any).error).toMatch(/revoked/);
    const reenroll = await token({ deviceId, platform: 'ios' });
    await sim.enroll(reenroll.enrollmentUrl);
    expect((await sim.authenticate()).status).toBe(200);
    expect((await t.api.ok('GET', `/apple/devices/${deviceId}`)).enrolled).toBe(true);
  });

  it('keeps the ErrorChain of a failed InstallProfile and shows the failure', async () => {
    const { sim, deviceId } = await enrolledSim();
    const profile = await t.api.ok('POST', '/profiles', { name: 'Will fail', scope: 'device', subjectName: 'CN={{DeviceName}}' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    await sim.authenticate();
    await sim.tokenUpdate();
    sim.behaviour.failInstallWith = [{ ErrorCode: 4001, ErrorDomain: 'MCInstallationErrorDomain', LocalizedDescription: 'Profile installation failed.', USEnglishDescription: 'Profile installation failed.' }];
    const seen = await sim.drain();
    expect(seen.map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    const d = (await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).find((x: any) => x.profileId === profile.id);
    expect(d).toMatchObject({ state: 'failed', errorCode: 'MCInstallationErrorDomain:4001' });
    expect(d.detail).toMatch(/Profile installation failed/);
    const cmd = (await t.api.ok('GET', `/apple/devices/${deviceId}/commands`)).find((c: any) => c.kind === 'InstallProfile');
    expect(cmd.status).toBe('error');
    expect(cmd.result.ErrorChain[0]).toMatchObject({ ErrorCode: 4001, ErrorDomain: 'MCInstallationErrorDomain' });
    // A failed version is not retried on every Idle...
    expect(await sim.drain()).toEqual([]);
    // ...but an admin can ask for a retry.
    sim.behaviour.failInstallWith = undefined;
    const r = await t.api.ok('POST', `/apple/devices/${deviceId}/sync`, { retryFailed: true }, 200);
    expect(r.queuedOn).toEqual(['device']);
    expect((await sim.drain()).map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).find((x: any) => x.profileId === profile.id).state).toBe('installed');
  });

  it('NotNow: the command waits for the next Idle', async () => {
    const { sim, deviceId } = await enrolledSim();
    const profile = await t.api.ok('POST', '/profiles', { name: 'Later', scope: 'device', subjectName: 'CN={{DeviceName}}' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    await sim.authenticate();
    await sim.tokenUpdate();
    sim.behaviour.notNowOnce = true;
    const first = await sim.drain();
    expect(first.map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    const cmd = (await t.api.ok('GET', `/apple/devices/${deviceId}/commands`))[0];
    expect(cmd.status).toBe('notnow');
    const second = await sim.drain();
    expect(second[0]!.CommandUUID).toBe(cmd.id);
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).find((x: any) => x.profileId === profile.id).state).toBe('installed');
  });

  it('refuses unsigned, badly signed and foreign-signed check-ins', async () => {
    const { sim } = await enrolledSim();
    const unsigned = await sim.checkin(sim.authenticateMessage(), { sign: false });
    expect(unsigned.status).toBe(401);
    const tampered = await sim.checkin(sim.authenticateMessage(), { tamper: true });
    expect(tampered.status).toBe(401);
    expect(((await tampered.json()) as any).error).toMatch(/message digest/);
    const garbage = await fetch(sim.enrollment!.mdm.CheckInURL, { method: 'PUT', headers: { 'Mdm-Signature': 'bm90IGNtcw==' }, body: 'x' });
    expect(garbage.status).toBe(401);
    // A CMS that parses but whose messageDigest is not an OCTET STRING: refused, not a 500.
    for (const mdValue of [new asn1js.Null(), new asn1js.Sequence({ value: [new asn1js.Integer({ value: 1 })] })]) {
      const odd = await fetch(sim.enrollment!.mdm.CheckInURL, { method: 'PUT', headers: { 'Mdm-Signature': malformedMdmSignature(sim.identity!.certificate, { mdValue }) }, body: 'x' });
      expect(odd.status).toBe(401);
      expect(((await odd.json()) as any).error).toMatch(/messageDigest/);
    }
    // Signed by a key whose certificate our CA did not issue.
    const other = await enrolledSim();
    const foreign = { certificate: new Uint8Array(new X509Certificate(push.certPem).raw), key: other.sim.identity!.key };
    const body = new Uint8Array(Buffer.from('<plist><dict/></plist>'));
    const sig = await sim.sign(body, foreign);
    const r = await fetch(sim.enrollment!.mdm.CheckInURL, { method: 'PUT', headers: { 'Mdm-Signature': sig }, body });
    expect(r.status).toBe(401);
    // Signed correctly, but with another device's UDID after Authenticate bound this one.
    expect((await sim.authenticate()).status).toBe(200);
    const otherUdid = await sim.checkin({ ...sim.authenticateMessage(), UDID: 'SOMEONE-ELSE' });
    expect(otherUdid.status).toBe(403);
    // The identity certificate on the trusted proxy header also authenticates, whatever the Content-Type.
    const viaHeader = await fetch(sim.enrollment!.mdm.ServerURL, {
      method: 'PUT',
      headers: { 'X-Client-Cert': encodeURIComponent(toPem(sim.identity!.certificate)), 'content-type': 'text/plain' },
      body: `<?xml version="1.0"?><plist version="1.0"><dict><key>Status</key><string>Idle</string><key>UDID</key><string>${sim.udid}</string></dict></plist>`,
    });
    expect(viaHeader.status).toBe(200);
  });

  it('refuses used, expired and wrong-platform tokens', async () => {
    const u = await t.api.ok('POST', '/users', { userPrincipalName: 'tok@contoso.com', email: 'tok@contoso.com', displayName: 'Tok' });
    const android = await token({ userId: u.id, platform: 'android' }).catch((e: Error) => e);
    // No Android adapter is mounted in this gateway: the token API says so. A Windows token made elsewhere is the same case.
    expect(String(android)).toMatch(/409/);
    const windowsToken = 'WINDOWSTOKENWINDOWSTOKENWINDOWS2';
    await t.gw.storage.createEnrollmentToken({ tokenSha256: createHash('sha256').update(windowsToken).digest('hex'), platform: 'windows', userId: u.id, deviceId: null, expiresAt: new Date(Date.now() + 3600_000).toISOString() });
    const wrong = await fetch(`${t.url}/mdm/enroll?token=${windowsToken}`);
    expect(wrong.status).toBe(403);
    expect(((await wrong.json()) as any).error).toMatch(/wrong-platform/);
    const expiredToken = 'EXPIREDTOKENEXPIREDTOKENEXPIRED2';
    await t.gw.storage.createEnrollmentToken({ tokenSha256: createHash('sha256').update(expiredToken).digest('hex'), platform: 'ios', userId: u.id, deviceId: null, expiresAt: new Date(Date.now() - 1000).toISOString() });
    const expired = await fetch(`${t.url}/mdm/enroll?token=${expiredToken}`);
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as any).error).toMatch(/expired/);
    expect((await fetch(`${t.url}/mdm/enroll?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`)).status).toBe(401);
    expect((await fetch(`${t.url}/mdm/enroll`)).status).toBe(400);
    // A macOS token enrolls a Mac (tried after iOS) with a System-scope profile.
    const mac = await token({ userId: u.id, platform: 'macos' });
    const r = await fetch(mac.enrollmentUrl);
    expect(r.status).toBe(200);
    // Spent: a second fetch is refused.
    const again = await fetch(mac.enrollmentUrl);
    expect(again.status).toBe(401);
    expect(((await again.json()) as any).error).toMatch(/used/);
    const { content } = await openSignedProfile(new Uint8Array(await r.arrayBuffer()), null);
    const profile = parse(Buffer.from(content).toString('utf8')) as any;
    expect(profile.PayloadScope).toBe('System');
  });

  it('macOS: user-scope profiles go to the user channel', async () => {
    const u = await t.api.ok('POST', '/users', { userPrincipalName: 'mac@contoso.com', email: 'mac@contoso.com', displayName: 'Mac User' });
    const { sim, deviceId } = await enrolledSim('macos', u.id);
    const profile = await t.api.ok('POST', '/profiles', { name: 'Mac user cert', scope: 'user', subjectName: 'CN={{UserPrincipalName}}' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, userId: u.id });
    await sim.authenticate();
    await sim.tokenUpdate();
    // No user channel yet: nothing on the device channel, the delivery waits.
    expect(await sim.drain()).toEqual([]);
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0]).toMatchObject({ state: 'pending' });
    const userId = 'A1B2C3D4-0000-4000-8000-000000000001';
    const ua = await sim.checkin({ MessageType: 'UserAuthenticate', UserID: userId, UserShortName: 'mac', UserLongName: 'Mac User' });
    expect(ua.status).toBe(200);
    expect(parse(await ua.text())).toEqual({ DigestChallenge: '' });
    const before = apns.pushes.length;
    expect((await sim.tokenUpdate(userId)).status).toBe(200);
    await apns.waitForPushes(before + 1);
    expect(apns.pushes.at(-1)!.path).not.toBe(`/3/device/${sim.token.toString('hex')}`);
    const seen = await sim.drain(userId);
    expect(seen.map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    const cmds = await t.api.ok('GET', `/apple/devices/${deviceId}/commands`);
    expect(cmds.find((c: any) => c.kind === 'InstallProfile').channel).toBe(`user:${userId}`);
    const inner = await openSignedProfile(seen[0]!.Command.Payload, null);
    expect((parse(Buffer.from(inner.content).toString('utf8')) as any).PayloadScope).toBe('User');
    // The user-scope certificate is found in our records too (issued to this device for the user).
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0]).toMatchObject({ state: 'installed', thumbprint: expect.any(String), certificateSerial: expect.any(String) });
  });
});

// The gateway's test URL is http: the schemas' https format for URLs is the one error let through.
const profileErrors = (profile: Record<string, unknown>) => validateConfigurationProfile(profile).filter((e) => !/URL.*https/.test(e));
const commandKeys = (c: Record<string, any>) => {
  const { RequestType: _type, ...keys } = c.Command;
  return keys as Record<string, unknown>;
};

describeWithReference("Apple simulator check-ins, the gateway's commands and its signed profiles against Apple's schemas (apple/mdm/checkin, commands, profiles)", () => {
  beforeAll(async () => {
    // Runs after the end-to-end block, but must not depend on it having uploaded the push certificate.
    await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
  });

  it('Authenticate and TokenUpdate, from iOS and macOS', async () => {
    for (const [platform, os] of [['ios', 'iOS'], ['macos', 'macOS']] as const) {
      const { sim } = await enrolledSim(platform);
      expect(validateMessage('checkin/authenticate.yaml', sim.authenticateMessage(), os)).toEqual([]);
      expect(validateMessage('checkin/tokenupdate.yaml', { ...sim.tokenUpdateMessage(), EnrollmentID: 'x', EnrollmentUserID: 'y', UserLongName: 'z' }, os)).toEqual([]);
    }
  });

  it('InstallProfile with its signed profiles, ProfileList and RemoveProfile', async () => {
    const u = await t.api.ok('POST', '/users', { userPrincipalName: 'schema@contoso.com', email: 'Schema.Check@contoso.com', displayName: 'Schema Check' });
    const { sim, deviceId } = await enrolledSim('ios', u.id);
    const userProfile = await t.api.ok('POST', '/profiles', userVpnProfile('Schema user VPN'));
    const devProfile = await t.api.ok('POST', '/profiles', { name: 'Schema device Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}},OU={{SerialNumber}},O=Contoso', subjectAlternativeNames: [{ type: 'dns', value: 'dev.contoso.com' }] });
    await t.api.ok('POST', '/assignments', { profileId: userProfile.id, userId: u.id });
    const devAssignment = await t.api.ok('POST', '/assignments', { profileId: devProfile.id, deviceId });
    await sim.authenticate();
    await sim.tokenUpdate();

    const installs = await sim.drain();
    expect(installs.map((c) => c.Command.RequestType)).toEqual(['InstallProfile', 'InstallProfile']);
    for (const c of installs) {
      expect(validateMessage('commands/profile.install.yaml', commandKeys(c), 'iOS')).toEqual([]);
      const { content } = await openSignedProfile(c.Command.Payload, sim.enrollment!.rootPem);
      expect(profileErrors(parse(Buffer.from(content).toString('utf8')) as any)).toEqual([]);
    }

    await t.api.ok('POST', `/apple/devices/${deviceId}/commands`, { kind: 'ProfileList' });
    const [list] = await sim.drain();
    expect(list!.Command.RequestType).toBe('ProfileList');
    expect(validateMessage('commands/profile.list.yaml', commandKeys(list!), 'iOS')).toEqual([]);

    await t.api.call('DELETE', `/assignments/${devAssignment.id}`);
    const [remove] = await sim.drain();
    expect(remove!.Command.RequestType).toBe('RemoveProfile');
    expect(validateMessage('commands/profile.remove.yaml', commandKeys(remove!), 'iOS')).toEqual([]);
  });

  it('the macOS enrollment profile as served', async () => {
    const u = await t.api.ok('POST', '/users', { userPrincipalName: 'schema-mac@contoso.com', email: 'schema-mac@contoso.com', displayName: 'Schema Mac' });
    const r = await fetch((await token({ userId: u.id, platform: 'macos' })).enrollmentUrl);
    expect(r.status).toBe(200);
    const { content } = await openSignedProfile(new Uint8Array(await r.arrayBuffer()), null);
    expect(profileErrors(parse(Buffer.from(content).toString('utf8')) as any)).toEqual([]);
  });
});

describe('device-reported DeviceName and SerialNumber (S4)', () => {
  const deviceProfile = async (deviceId: string) => {
    const p = await t.api.ok('POST', '/profiles', { name: 'Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}},OU={{SerialNumber}},O=Contoso' });
    await t.api.ok('POST', '/assignments', { profileId: p.id, deviceId });
    return p;
  };

  it('Authenticate never writes over the admin\'s name and serial; certificates carry the admin\'s', async () => {
    const u = await t.api.ok('POST', '/users', { userPrincipalName: `s4-admin-${Date.now()}@contoso.com`, email: 'a@contoso.com', displayName: 'A' });
    const admin = await t.api.ok('POST', '/devices', { name: `Lin iPhone ${Date.now()}`, platform: 'ios', serialNumber: `ADMIN-${Date.now()}`, userId: u.id });
    const tok = await token({ deviceId: admin.id, platform: 'ios' });
    const sim = new AppleDeviceSim(t.url, 'ios');
    await sim.enroll(tok.enrollmentUrl);
    sim.deviceName = 'Renamed By The User';
    expect((await sim.authenticate()).status).toBe(200);
    expect(await t.api.ok('GET', `/devices/${admin.id}`)).toMatchObject({ name: admin.name, serialNumber: admin.serialNumber, reported: { name: 'Renamed By The User', serialNumber: sim.serial } });

    const p = await deviceProfile(admin.id);
    await sim.tokenUpdate();
    await sim.drain();
    const cert = new X509Certificate(sim.installed.get(`com.mdm-gateway.profile.${p.id}`)!.certificate!);
    expect(cert.subject).toContain(`CN=${admin.name}`);
    expect(cert.subject).toContain(`OU=${admin.serialNumber}`);
  });

  it('a device claiming another device\'s DeviceName and SerialNumber is flagged, audited, and gets no certificate with them', async () => {
    const victim = await t.api.ok('POST', '/devices', { name: `CEO iPhone ${Date.now()}`, platform: 'ios', serialNumber: `CEO-${Date.now()}` });
    const { sim, deviceId } = await enrolledSim();
    sim.deviceName = victim.name;
    expect((await sim.checkin({ ...sim.authenticateMessage(), SerialNumber: victim.serialNumber })).status).toBe(200);
    const device = await t.api.ok('GET', `/devices/${deviceId}`);
    expect(device).toMatchObject({ name: null, serialNumber: null, reported: { name: victim.name, serialNumber: victim.serialNumber, conflicts: ['name', 'serialNumber'] } });
    const audit = await t.api.ok('GET', '/audit?type=device.reported.conflict');
    expect(audit.filter((e: any) => e.details.deviceId === deviceId).map((e: any) => [e.details.field, e.details.otherDevices])).toEqual([
      ['name', [victim.id]],
      ['serialNumber', [victim.id]],
    ]);

    const p = await deviceProfile(deviceId);
    await sim.tokenUpdate();
    expect(await sim.drain()).toEqual([]);
    const d = (await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).find((x: any) => x.profileId === p.id);
    expect(d).toMatchObject({ state: 'failed', errorCode: 'ATTRIBUTE_MISSING' });
    expect(d.detail).toMatch(/\{\{DeviceName\}\}.*another device's/);
    expect((await t.api.ok('GET', `/certificates?deviceId=${deviceId}`)).filter((c: any) => c.kind === 'profile')).toEqual([]);
  });
});
