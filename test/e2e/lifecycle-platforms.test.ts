import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../src/adapters/android/index.js';
import { createAppleAdapter } from '../../src/adapters/apple/index.js';
import { windowsAdapter } from '../../src/adapters/windows/index.js';
import { AndroidAgentSim } from '../../src/sim/android.js';
import { FakeApns, pushCertificate } from '../../src/sim/fake-apns.js';
import { AppleDeviceSim } from '../../src/sim/apple.js';
import { WindowsSimulator } from '../../src/sim/windows.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Lifecycle issue #9, item 2, on every platform with the device simulators:
// - an admin revocation of a certificate whose assignment still holds is
//   re-issued at the next check-in;
// - a profile removed from the device: its certificate is revoked as soon as
//   the platform confirms the removal (no grace period wait);
// - the device leaving management (Apple CheckOut, the Windows unenroll
//   alert, the Android agent's unenroll call) revokes its identity.

const TOPIC = 'com.apple.mgmt.External.1ife0000-0000-4000-8000-000000000001';
let t: TestGateway;
let apns: FakeApns;

beforeAll(async () => {
  apns = await FakeApns.start();
  t = await startTestGateway({ adapters: [windowsAdapter, androidAdapter, createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })] });
  const push = await pushCertificate(apns.ca, TOPIC);
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
});
afterAll(async () => {
  await t?.stop();
  await apns?.stop();
});

let n = 0;
const serialOf = (der: Uint8Array) => new X509Certificate(der).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
const deviceIdOf = (der: Uint8Array) => new X509Certificate(der).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
type Cert = { serialNumber: string; profileId: string | null; kind: string; revokedAt: string | null; revocationReason: string | null; thumbprint: string };

async function newUser() {
  const upn = `lifeplat${++n}@contoso.com`;
  return { upn, user: await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Life ${n}` }) };
}
async function assignedProfile(deviceId: string) {
  const profile = await t.api.ok('POST', '/profiles', { name: `life wifi ${++n}`, scope: 'device', subjectName: 'CN={{DeviceName}},O=Life', scepServerUrls: [t.scepUrl] });
  const assignment = await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
  return { profile, assignment };
}
const certsOf = async (deviceId: string, profileId?: string): Promise<Cert[]> =>
  (await t.api.ok('GET', `/certificates?deviceId=${deviceId}`)).filter((c: Cert) => (profileId ? c.profileId === profileId : true));
const adminRevoke = (serial: string) => t.api.ok('POST', `/certificates/${serial}/revoke`, {}, 200);
const confirmedRevocation = async (serial: string) => {
  const audit = (await t.api.ok('GET', '/audit?type=lifecycle.certificate.revoked')).find((a: any) => a.details.serialNumber === serial);
  return audit?.details;
};

describe('Windows', () => {
  it('re-issues an admin-revoked certificate, revokes on the confirmed Delete, and the unenroll alert revokes the identity', async () => {
    const { user, upn } = await newUser();
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: tok.token });
    expect((await sim.enroll()).fault).toBeUndefined();
    const deviceId = deviceIdOf(sim.identity!);
    const { profile, assignment } = await assignedProfile(deviceId);
    expect((await sim.session()).enrolled[0]!.status).toBe(1);
    await sim.session(); // reports installed
    const [first] = await certsOf(deviceId, profile.id);
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0]).toMatchObject({ state: 'installed', certificateSerial: first!.serialNumber });

    // Admin revocation while the assignment holds: the next session enrolls a new certificate.
    await adminRevoke(first!.serialNumber);
    const again = await sim.session();
    expect(again.enrolled).toHaveLength(1);
    expect(again.enrolled[0]!.status).toBe(1);
    await sim.session();
    const second = (await certsOf(deviceId, profile.id)).find((c) => c.serialNumber !== first!.serialNumber)!;
    expect(second.revokedAt).toBeNull();
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0]).toMatchObject({ state: 'installed', certificateSerial: second.serialNumber });
    // Quiet afterwards: it is not re-issued on every session.
    expect((await sim.session()).enrolled).toHaveLength(0);

    // Unassigned: Delete of the SCEP node, the device confirms, the certificate is revoked right away.
    await t.api.ok('DELETE', `/assignments/${assignment.id}`, undefined, 204);
    await t.gw.devicesChanged.idle();
    expect((await certsOf(deviceId, profile.id)).find((c) => c.serialNumber === second.serialNumber)!.revokedAt).toBeNull();
    const removal = await sim.session();
    expect(removal.messages[0]!.raw).toContain('<Delete>');
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0]).toMatchObject({ state: 'removed' });
    expect((await certsOf(deviceId, profile.id)).find((c) => c.serialNumber === second.serialNumber)).toMatchObject({ revocationReason: 'cessationOfOperation' });
    expect(await confirmedRevocation(second.serialNumber)).toMatchObject({ trigger: 'removal-confirmed', deviceId, profileId: profile.id });

    // The user unenrolls: Generic alert 1226 com.microsoft:mdm.unenrollment.userrequest.
    const identitySerial = serialOf(sim.identity!);
    const alert =
      '<Alert><CmdID>90</CmdID><Data>1226</Data><Item><Meta><Type xmlns="syncml:metinf">com.microsoft:mdm.unenrollment.userrequest</Type><Format xmlns="syncml:metinf">int</Format></Meta><Data>1</Data></Item></Alert>';
    const bye = await sim.session(alert);
    expect(bye.messages.at(-1)!.commands).toHaveLength(0);
    expect(await t.api.ok('GET', `/certificates/${identitySerial}`)).toMatchObject({ revocationReason: 'cessationOfOperation' });
    expect((await t.api.ok('GET', '/audit?type=device.unenrolled')).at(-1)).toMatchObject({ actor: `device:${deviceId}`, details: { deviceId, adapter: 'windows', revoked: [identitySerial] } });
    expect((await sim.post(sim.message('99', 1, ''))).status).toBe(401);
  });
});

describe('Apple', () => {
  it('re-issues an admin-revoked certificate, revokes on the acknowledged RemoveProfile, and CheckOut revokes the identity', async () => {
    const { user } = await newUser();
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' });
    const sim = new AppleDeviceSim(t.url, 'ios');
    await sim.enroll(tok.enrollmentUrl);
    const deviceId = deviceIdOf(sim.identity!.certificate);
    expect((await sim.authenticate()).status).toBe(200);
    expect((await sim.tokenUpdate()).status).toBe(200);
    const { profile, assignment } = await assignedProfile(deviceId);
    await t.gw.devicesChanged.idle();
    expect((await sim.drain()).map((c) => c.Command.RequestType)).toContain('InstallProfile');
    const [first] = await certsOf(deviceId, profile.id);
    expect(first).toBeDefined();

    await adminRevoke(first!.serialNumber);
    const reinstall = await sim.drain();
    expect(reinstall.map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    const second = (await certsOf(deviceId, profile.id)).find((c) => c.serialNumber !== first!.serialNumber)!;
    expect(second.revokedAt).toBeNull();
    expect(await sim.drain()).toEqual([]);

    await t.api.ok('DELETE', `/assignments/${assignment.id}`, undefined, 204);
    await t.gw.devicesChanged.idle();
    expect((await sim.drain()).map((c) => c.Command.RequestType)).toContain('RemoveProfile');
    expect((await certsOf(deviceId, profile.id)).find((c) => c.serialNumber === second.serialNumber)).toMatchObject({ revocationReason: 'cessationOfOperation' });
    expect(await confirmedRevocation(second.serialNumber)).toMatchObject({ trigger: 'removal-confirmed', deviceId });

    const identitySerial = serialOf(sim.identity!.certificate);
    expect((await sim.checkout()).status).toBe(200);
    expect(await t.api.ok('GET', `/certificates/${identitySerial}`)).toMatchObject({ revocationReason: 'cessationOfOperation' });
    expect((await t.api.ok('GET', '/audit?type=device.unenrolled')).at(-1)).toMatchObject({ details: { deviceId, adapter: 'apple', revoked: [identitySerial] } });
    expect((await sim.tokenUpdate()).status).toBe(401);
  });
});

describe('Android', () => {
  it('re-issues an admin-revoked certificate, revokes on the agent\'s removed report, and the unenroll call revokes everything', async () => {
    const { user } = await newUser();
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
    const agent = new AndroidAgentSim(t.url);
    await agent.enroll(tok.enrollmentUrl);
    const deviceId = agent.deviceId!;
    const { profile, assignment } = await assignedProfile(deviceId);
    const [installed] = await agent.applyPolicy((await agent.fetchPolicy()).document!);
    const [first] = await certsOf(deviceId, profile.id);
    expect((await agent.fetchPolicy()).document!.policies[0]!.action).toBe('keep');

    await adminRevoke(first!.serialNumber);
    const doc = (await agent.fetchPolicy()).document!;
    expect(doc.policies[0]).toMatchObject({ id: profile.id, action: 'enroll' });
    expect(doc.policies[0]!.scep.challenge).toBeTruthy();
    const [replacement] = await agent.applyPolicy(doc);
    expect(replacement!.thumbprint).not.toBe(installed!.thumbprint);
    expect((await agent.fetchPolicy()).document!.policies[0]!.action).toBe('keep');

    await t.api.ok('DELETE', `/assignments/${assignment.id}`, undefined, 204);
    expect((await agent.fetchPolicy()).document!.policies).toEqual([]);
    const second = (await certsOf(deviceId, profile.id)).find((c) => c.serialNumber !== first!.serialNumber)!;
    expect(second.revokedAt).toBeNull();
    const removed = await agent.postStatus({ results: [{ policyId: profile.id, policyVersion: 1, state: 'removed', alias: replacement!.alias }] });
    expect(removed.status).toBe(204);
    expect((await certsOf(deviceId, profile.id)).find((c) => c.serialNumber === second.serialNumber)).toMatchObject({ revocationReason: 'cessationOfOperation' });
    expect(await confirmedRevocation(second.serialNumber)).toMatchObject({ trigger: 'removal-confirmed', deviceId });

    // Another profile still installed goes with the unenrollment too.
    const other = await assignedProfile(deviceId);
    await agent.applyPolicy((await agent.fetchPolicy()).document!);
    const res = await fetch(`${t.url}/android/v1/unenroll`, { method: 'POST', headers: agent.authHeaders() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { revoked: string[] };
    const identitySerial = serialOf(agent.identity!);
    const otherSerial = (await certsOf(deviceId, other.profile.id))[0]!.serialNumber;
    expect(body.revoked.sort()).toEqual([identitySerial, otherSerial].sort());
    expect(await t.api.ok('GET', `/certificates/${identitySerial}`)).toMatchObject({ revocationReason: 'cessationOfOperation' });
    expect((await agent.fetchPolicy()).status).toBe(401);
    expect((await fetch(`${t.url}/android/v1/unenroll`, { method: 'POST', headers: agent.authHeaders() })).status).toBe(401);
    expect((await fetch(`${t.url}/android/v1/unenroll`, { method: 'POST' })).status).toBe(401);
  });
});
