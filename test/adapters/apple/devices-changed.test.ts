import { X509Certificate, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdapterServices, PlatformAdapter } from '../../../src/core/adapter.js';
import type { Device } from '../../../src/core/model.js';
import { createAppleAdapter } from '../../../src/adapters/apple/index.js';
import type { PlistDict } from '../../../src/adapters/apple/plist-codec.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { FakeApns, pushCertificate, type ReceivedPush } from '../../../src/sim/fake-apns.js';
import { AppleDeviceSim } from '../../../src/sim/apple.js';

// onDevicesChanged: an admin change that may change a device's profiles is
// planned at once and the device is pushed, because an iOS device only
// connects when pushed. First the hook called directly (core does not see it
// in that gateway, so nothing else plans for the device), then end to end
// through the admin API: assign a profile to the user's group, the fake APNs
// gets a push for that device, the simulator's next Idle gets the
// InstallProfile and enrolls over real SCEP.

const TOPIC = 'com.apple.mgmt.External.5e1d2c3b-4a59-4687-9a6b-7c8d9e0f1a2b';
let apns: FakeApns;

beforeAll(async () => {
  apns = await FakeApns.start();
});
afterAll(async () => {
  await apns?.stop();
});

async function gatewayWith(adapter: PlatformAdapter): Promise<TestGateway> {
  const t = await startTestGateway({ adapters: [adapter] });
  const push = await pushCertificate(apns.ca, TOPIC);
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
  return t;
}

async function enroll(t: TestGateway, userId: string): Promise<{ sim: AppleDeviceSim; deviceId: string }> {
  const tok = await t.api.ok('POST', '/enrollment-tokens', { userId, platform: 'ios' });
  const sim = new AppleDeviceSim(t.url, 'ios');
  await sim.enroll(tok.enrollmentUrl);
  const deviceId = new X509Certificate(sim.identity!.certificate).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
  return { sim, deviceId };
}

const user = (t: TestGateway, name: string) => t.api.ok('POST', '/users', { userPrincipalName: `${name}@contoso.com`, email: `${name}@contoso.com`, displayName: name });
const profile = (t: TestGateway, name: string) => t.api.ok('POST', '/profiles', { name, scope: 'device', subjectName: `CN={{DeviceName}},OU=${name},O=Contoso` });
const pushesTo = (sim: AppleDeviceSim, from: number): ReceivedPush[] => apns.pushes.slice(from).filter((p) => p.path === `/3/device/${sim.token.toString('hex')}`);
const kinds = (cmds: PlistDict[]) => cmds.map((c) => (c.Command as PlistDict).RequestType);

async function waitForPushTo(sim: AppleDeviceSim, from: number, timeoutMs = 5000): Promise<ReceivedPush> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const got = pushesTo(sim, from);
    if (got.length) return got[0]!;
    if (Date.now() > until) throw new Error(`no push for device token ${sim.token.toString('hex').slice(0, 8)}… within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('onDevicesChanged called directly', () => {
  let t: TestGateway;
  let services: AdapterServices;
  let apple: PlatformAdapter<PlistDict>;

  beforeAll(async () => {
    // The adapter as core would mount it, minus the hook (core cannot call it here), and the services it was mounted with.
    const real = createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem });
    apple = real;
    const { onDevicesChanged: _hidden, ...rest } = real;
    t = await gatewayWith({
      ...rest,
      routes: (s) => {
        services = s;
        return real.routes(s);
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  const device = async (id: string): Promise<Device> => t.api.ok('GET', `/devices/${id}`);
  const commands = async (id: string): Promise<{ kind: string; status: string }[]> => t.api.ok('GET', `/apple/devices/${id}/commands`);

  it('plans and pushes only a device with a push token; nothing is queued twice; backoff holds the push, not the command', async () => {
    const u = await user(t, 'direct');
    const group = await t.api.ok('POST', '/groups', { name: 'direct' });
    await t.api.ok('POST', `/groups/${group.id}/members`, { userId: u.id });
    const { sim, deviceId } = await enroll(t, u.id);
    const vpn = await profile(t, 'VPN');
    await t.api.ok('POST', '/assignments', { profileId: vpn.id, groupId: group.id });

    // Not authenticated, then no push token yet: skipped, nothing planned, nothing reported.
    let before = apns.pushes.length;
    await apple.onDevicesChanged!([await device(deviceId)], services);
    expect((await sim.authenticate()).status).toBe(200);
    await apple.onDevicesChanged!([await device(deviceId)], services);
    expect(await commands(deviceId)).toEqual([]);
    expect(await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).toEqual([]);
    expect(apns.pushes.length).toBe(before);

    // The TokenUpdate plans what was assigned before; drained, the device is up to date.
    await sim.tokenUpdate();
    expect(kinds(await sim.drain())).toEqual(['InstallProfile']);

    // Assigned after enrollment: core does not plan it here; the hook does, and pushes.
    const wifi = await profile(t, 'WiFi');
    await t.api.ok('POST', '/assignments', { profileId: wifi.id, groupId: group.id });
    expect((await commands(deviceId)).filter((c) => c.status === 'queued')).toEqual([]);
    before = apns.pushes.length;
    // Devices passed twice, a device we do not know and a non-Apple one are fine.
    const stranger: Device = { ...(await device(deviceId)), id: randomUUID(), platform: 'windows' };
    await apple.onDevicesChanged!([await device(deviceId), await device(deviceId), stranger], services);
    const pushed = pushesTo(sim, before);
    expect(pushed).toHaveLength(1);
    expect(JSON.parse(pushed[0]!.body)).toEqual({ mdm: sim.pushMagic });
    expect(pushed[0]!.headers['apns-topic']).toBe(TOPIC);
    expect((await commands(deviceId)).filter((c) => c.status === 'queued').map((c) => c.kind)).toEqual(['InstallProfile']);
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).find((d: any) => d.profileId === wifi.id)).toMatchObject({ state: 'pending' });

    // Nothing new: no command, no push.
    before = apns.pushes.length;
    await apple.onDevicesChanged!([await device(deviceId)], services);
    expect(apns.pushes.length).toBe(before);
    expect((await commands(deviceId)).filter((c) => c.status === 'queued')).toHaveLength(1);
    expect(kinds(await sim.drain())).toEqual(['InstallProfile']);
    expect(sim.installed.size).toBe(2);

    // APNs answers 503: the push is sent and the channel backs off; the next change queues without pushing.
    apns.answers.set(sim.token.toString('hex'), { status: 503 });
    const [wifiAssignment] = await t.api.ok('GET', `/assignments?profileId=${wifi.id}`);
    await t.api.call('DELETE', `/assignments/${wifiAssignment.id}`);
    before = apns.pushes.length;
    await apple.onDevicesChanged!([await device(deviceId)], services);
    expect(pushesTo(sim, before)).toHaveLength(1);
    expect((await t.api.ok('GET', `/apple/devices/${deviceId}`)).channels.device.push).toMatchObject({ failures: 1, lastStatus: 503, backoffUntil: expect.any(String) });
    const certs = await profile(t, 'Certs');
    await t.api.ok('POST', '/assignments', { profileId: certs.id, deviceId });
    before = apns.pushes.length;
    await apple.onDevicesChanged!([await device(deviceId)], services);
    expect(apns.pushes.length).toBe(before);
    expect((await commands(deviceId)).filter((c) => c.status === 'queued').map((c) => c.kind)).toEqual(['RemoveProfile', 'InstallProfile']);
    apns.answers.delete(sim.token.toString('hex'));
    expect(kinds(await sim.drain())).toEqual(['RemoveProfile', 'InstallProfile']);
    expect([...sim.installed.keys()].sort()).toEqual([`com.mdm-gateway.profile.${vpn.id}`, `com.mdm-gateway.profile.${certs.id}`].sort());

    // Checked out: skipped.
    expect((await sim.checkout()).status).toBe(200);
    await t.api.ok('POST', '/assignments', { profileId: wifi.id, deviceId });
    before = apns.pushes.length;
    const queuedBefore = (await commands(deviceId)).length;
    await apple.onDevicesChanged!([await device(deviceId)], services);
    expect(apns.pushes.length).toBe(before);
    expect(await commands(deviceId)).toHaveLength(queuedBefore);
  });

  it('overlapping calls and a device session at the same time queue each command once', async () => {
    const u = await user(t, 'overlap');
    const { sim, deviceId } = await enroll(t, u.id);
    await sim.authenticate();
    await sim.tokenUpdate();
    const p = await profile(t, 'Overlap');
    await t.api.ok('POST', '/assignments', { profileId: p.id, deviceId });
    const d = await device(deviceId);
    await Promise.all([apple.onDevicesChanged!([d], services), apple.onDevicesChanged!([d], services), sim.connect({ Status: 'Idle' }).catch(() => null), apple.onDevicesChanged!([d], services)]);
    const installs = (await commands(deviceId)).filter((c) => c.kind === 'InstallProfile');
    expect(installs).toHaveLength(1);
    await sim.drain();
    expect(sim.installed.size).toBe(1);
  });
});

describe('through the admin API', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await gatewayWith(createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem }));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a profile assigned after enrollment is pushed, fetched at the next Idle and installed over real SCEP; later changes too', async () => {
    const u = await user(t, 'late');
    const group = await t.api.ok('POST', '/groups', { name: 'late-staff' });
    await t.api.ok('POST', `/groups/${group.id}/members`, { userId: u.id });
    // Enrolled with nothing assigned: the TokenUpdate queues nothing and pushes nothing.
    const { sim, deviceId } = await enroll(t, u.id);
    expect((await sim.authenticate()).status).toBe(200);
    let before = apns.pushes.length;
    expect((await sim.tokenUpdate()).status).toBe(200);
    expect(await sim.drain()).toEqual([]);
    expect(pushesTo(sim, before)).toEqual([]);

    // The admin assigns a profile to the user's group: the device is pushed.
    const p = await t.api.ok('POST', '/profiles', { name: 'Late Wi-Fi', scope: 'user', subjectName: 'CN={{UserPrincipalName}},O=Contoso', subjectAlternativeNames: [{ type: 'upn', value: '{{UserPrincipalName}}' }] });
    before = apns.pushes.length;
    await t.api.ok('POST', '/assignments', { profileId: p.id, groupId: group.id });
    const push = await waitForPushTo(sim, before);
    expect(JSON.parse(push.body)).toEqual({ mdm: sim.pushMagic });
    expect(push.headers).toMatchObject({ 'apns-topic': TOPIC, 'apns-push-type': 'mdm' });
    expect(push.clientSubject).toContain(`UID=${TOPIC}`);

    // Woken by the push, the device connects: its Idle gets the InstallProfile, it enrolls over real SCEP.
    expect(kinds(await sim.drain())).toEqual(['InstallProfile']);
    const identifier = `com.mdm-gateway.profile.${p.id}`;
    const onDevice = new X509Certificate(sim.installed.get(identifier)!.certificate!);
    expect(onDevice.subject).toContain('CN=late@contoso.com');
    expect(onDevice.checkIssued(new X509Certificate(sim.enrollment!.rootPem))).toBe(true);
    const [cert] = (await t.api.ok('GET', `/certificates?deviceId=${deviceId}`)).filter((c: any) => c.kind === 'profile');
    expect(cert.thumbprint).toBe(onDevice.fingerprint.replace(/:/g, ''));
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).find((d: any) => d.profileId === p.id)).toMatchObject({ state: 'installed', profileVersion: 1, thumbprint: cert.thumbprint });

    // A new profile version: pushed, reinstalled.
    before = apns.pushes.length;
    await t.api.ok('PUT', `/profiles/${p.id}`, { name: 'Late Wi-Fi', scope: 'user', subjectName: 'CN={{UserPrincipalName}},OU=v2,O=Contoso' }, 200);
    await waitForPushTo(sim, before);
    expect(kinds(await sim.drain())).toEqual(['InstallProfile']);
    expect(new X509Certificate(sim.installed.get(identifier)!.certificate!).subject).toContain('OU=v2');

    // The user leaves the group: pushed, removed.
    before = apns.pushes.length;
    expect((await t.api.call('DELETE', `/groups/${group.id}/members/users/${u.id}`)).status).toBe(204);
    await waitForPushTo(sim, before);
    expect(kinds(await sim.drain())).toEqual(['RemoveProfile']);
    expect(sim.installed.has(identifier)).toBe(false);

    // A new primary user who is in the group: pushed, installed for that user.
    const other = await user(t, 'other');
    await t.api.ok('POST', `/groups/${group.id}/members`, { userId: other.id });
    before = apns.pushes.length;
    await t.api.ok('PATCH', `/devices/${deviceId}`, { userId: other.id });
    await waitForPushTo(sim, before);
    expect(kinds(await sim.drain())).toEqual(['InstallProfile']);
    expect(new X509Certificate(sim.installed.get(identifier)!.certificate!).subject).toContain('CN=other@contoso.com');

    // The profile is deleted: pushed, removed.
    before = apns.pushes.length;
    expect((await t.api.call('DELETE', `/profiles/${p.id}`)).status).toBe(204);
    await waitForPushTo(sim, before);
    expect(kinds(await sim.drain())).toEqual(['RemoveProfile']);
    expect(sim.installed.size).toBe(0);
  });
});
