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

// Lifecycle issue #9, item 2: "device retire revokes its identity and profile
// certificates, removes its profiles through its platform, the device can no
// longer check in". Before, retire revoked the identity at once, so the device
// never heard that its Wi-Fi/VPN profiles had to go. Now (core/retirement.ts):
// profile certificates revoked at once; the device checks in once more, gets
// the removals from its platform, and its identity is revoked when the
// platform confirms them, or when the removal grace period ends.

const TOPIC = 'com.apple.mgmt.External.2e7e0000-0000-4000-8000-000000000002';
const HOUR = 3_600_000;
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
type Cert = { serialNumber: string; profileId: string | null; kind: string; revokedAt: string | null; revocationReason: string | null };

async function newUser(tg: TestGateway) {
  const upn = `retire${++n}@contoso.com`;
  return { upn, user: await tg.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Retire ${n}` }) };
}
/** Two profiles (Wi-Fi, VPN) assigned to the device. */
async function twoProfiles(tg: TestGateway, deviceId: string) {
  const ids: string[] = [];
  for (const name of ['wifi', 'vpn']) {
    const p = await tg.api.ok('POST', '/profiles', { name: `retire ${name} ${++n}`, scope: 'device', subjectName: `CN={{DeviceName}},O=Retire ${name}`, scepServerUrls: [tg.scepUrl] });
    await tg.api.ok('POST', '/assignments', { profileId: p.id, deviceId });
    ids.push(p.id);
  }
  return ids;
}
const certsOf = async (tg: TestGateway, deviceId: string): Promise<Cert[]> => tg.api.ok('GET', `/certificates?deviceId=${deviceId}`);
const deviceOf = (tg: TestGateway, deviceId: string) => tg.api.ok('GET', `/devices/${deviceId}`);
const completion = async (tg: TestGateway, deviceId: string) =>
  (await tg.api.ok('GET', '/audit?type=device.retire.completed')).find((a: any) => a.details.deviceId === deviceId);

/** Retires the device; asserts the profile certificates went at once and the identity did not. */
async function retire(tg: TestGateway, deviceId: string, identitySerial: string) {
  const profileSerials = (await certsOf(tg, deviceId)).filter((c) => c.kind === 'profile' && c.revokedAt === null).map((c) => c.serialNumber);
  expect(profileSerials.length).toBeGreaterThanOrEqual(2);
  const r = await tg.api.ok('POST', `/devices/${deviceId}/retire`, {}, 200);
  expect(r.revoked.sort()).toEqual(profileSerials.sort());
  const certs = await certsOf(tg, deviceId);
  for (const s of profileSerials) expect(certs.find((c) => c.serialNumber === s)).toMatchObject({ revocationReason: 'cessationOfOperation', revokedAt: r.device.retiringSince });
  expect(certs.find((c) => c.serialNumber === identitySerial)!.revokedAt).toBeNull();
  expect(await deviceOf(tg, deviceId)).toMatchObject({ retiringSince: r.device.retiringSince, retiredAt: null });
  expect((await tg.api.call('POST', `/devices/${deviceId}/retire`, {})).status).toBe(409);
  await tg.gw.devicesChanged.idle();
  return r;
}

/** After the platform confirmed: identity revoked (cessationOfOperation), device retired, audited as confirmed. */
async function expectRetiredConfirmed(tg: TestGateway, deviceId: string, identitySerial: string) {
  expect((await deviceOf(tg, deviceId)).retiredAt).toEqual(expect.any(String));
  expect(await tg.api.ok('GET', `/certificates/${identitySerial}`)).toMatchObject({ revocationReason: 'cessationOfOperation' });
  expect(await completion(tg, deviceId)).toMatchObject({ details: { how: 'confirmed', deviceId } });
}

describe('retire through the platform', () => {
  it('Windows: the next session Deletes both SCEP nodes; Status 200 on them retires the device; its identity is then refused', async () => {
    const { user, upn } = await newUser(t);
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: tok.token });
    expect((await sim.enroll()).fault).toBeUndefined();
    const deviceId = deviceIdOf(sim.identity!);
    const identitySerial = serialOf(sim.identity!);
    await twoProfiles(t, deviceId);
    expect((await sim.session()).enrolled).toHaveLength(2);
    await sim.session(); // reports installed
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).map((d: any) => d.state)).toEqual(['installed', 'installed']);

    await retire(t, deviceId, identitySerial);
    const removal = await sim.session();
    const deletes = removal.messages.flatMap((m) => m.commands).filter((c) => c.name === 'Delete');
    expect(deletes).toHaveLength(2);
    expect(removal.enrolled).toHaveLength(0); // nothing new delivered
    expect([...sim.tree.keys()].filter((k) => k.includes('ClientCertificateInstall/SCEP/') && k.endsWith('/Install/ServerURL'))).toEqual([]);
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).map((d: any) => d.state)).toEqual(['removed', 'removed']);
    await expectRetiredConfirmed(t, deviceId, identitySerial);
    const refused = await sim.post(sim.message('99', 1, ''));
    expect(refused.status).toBe(403);
    expect(refused.text).toMatch(/retired/);
  });

  it('Apple: RemoveProfile of each profile, then of the MDM enrollment profile; its acknowledgement retires the device; CheckOut and later check-ins are refused', async () => {
    const { user } = await newUser(t);
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' });
    const sim = new AppleDeviceSim(t.url, 'ios');
    await sim.enroll(tok.enrollmentUrl);
    const deviceId = deviceIdOf(sim.identity!.certificate);
    const identitySerial = serialOf(sim.identity!.certificate);
    expect((await sim.authenticate()).status).toBe(200);
    expect((await sim.tokenUpdate()).status).toBe(200);
    await twoProfiles(t, deviceId);
    await t.gw.devicesChanged.idle();
    expect((await sim.drain()).map((c) => c.Command.RequestType)).toEqual(['InstallProfile', 'InstallProfile']);
    const profileIdentifiers = [...sim.installed.keys()];
    expect(profileIdentifiers).toHaveLength(2);

    const pushesBefore = apns.pushes.length;
    await retire(t, deviceId, identitySerial);
    expect(apns.pushes.length).toBeGreaterThan(pushesBefore); // woken to fetch the removals
    const seen = await sim.drain();
    expect(seen.map((c) => [c.Command.RequestType, c.Command.Identifier])).toEqual([
      ['RemoveProfile', profileIdentifiers[0]],
      ['RemoveProfile', profileIdentifiers[1]],
      ['RemoveProfile', 'com.mdm-gateway.enrollment'],
    ]);
    expect(sim.mdmRemoved).toBe(true);
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).map((d: any) => d.state)).toEqual(['removed', 'removed']);
    await expectRetiredConfirmed(t, deviceId, identitySerial);
    // The CheckOut a real device sends after losing its MDM profile: the identity no longer speaks for it.
    expect(sim.checkOutStatus).toBe(403);
    expect((await sim.tokenUpdate()).status).toBe(403);
  });

  it('Android: the policy lists no profiles; the agent removes both key pairs and reports them removed, which retires the device', async () => {
    const { user } = await newUser(t);
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
    const agent = new AndroidAgentSim(t.url);
    await agent.enroll(tok.enrollmentUrl);
    const deviceId = agent.deviceId!;
    const identitySerial = serialOf(agent.identity!);
    await twoProfiles(t, deviceId);
    expect(await agent.applyPolicy((await agent.fetchPolicy()).document!)).toHaveLength(2);

    await retire(t, deviceId, identitySerial);
    const doc = (await agent.fetchPolicy()).document!;
    expect(doc.policies).toEqual([]);
    expect(doc.identityRenewal).toBeUndefined();
    // Still retiring until the agent reports: the policy fetch alone confirms nothing.
    expect((await deviceOf(t, deviceId)).retiredAt).toBeNull();
    expect(await agent.removeUnlisted(doc)).toHaveLength(2);
    expect(agent.keyChain.size).toBe(0);
    await expectRetiredConfirmed(t, deviceId, identitySerial);
    expect((await agent.fetchPolicy()).status).toBe(403);
  });
});

describe('retire: a device that never comes back', () => {
  let g: TestGateway;
  let offset = 0;
  beforeAll(async () => {
    g = await startTestGateway({ adapters: [windowsAdapter], now: () => new Date(Date.now() + offset) });
  });
  afterAll(async () => {
    await g?.stop();
  });

  it('its identity is refused once the grace period ends, and the housekeeping sweep revokes it (how: grace)', async () => {
    const { user, upn } = await newUser(g);
    const tok = await g.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
    const sim = new WindowsSimulator({ baseUrl: g.url, upn, password: tok.token });
    expect((await sim.enroll()).fault).toBeUndefined();
    const deviceId = deviceIdOf(sim.identity!);
    const identitySerial = serialOf(sim.identity!);
    await twoProfiles(g, deviceId);
    expect((await sim.session()).enrolled).toHaveLength(2);
    await sim.session();
    await retire(g, deviceId, identitySerial);

    // 23 hours on (default grace 24 h): the sweep leaves it retiring.
    offset = 23 * HOUR;
    expect((await g.gw.housekeeping.runNow()).retirementsCompleted).toBe(0);
    expect((await g.api.ok('GET', `/certificates/${identitySerial}`)).revokedAt).toBeNull();

    // Past the grace: refused even before the (hourly) sweep has run, then revoked by it.
    offset = 24.5 * HOUR;
    const refused = await sim.post(sim.message('98', 1, ''));
    expect(refused.status).toBe(403);
    expect(refused.text).toMatch(/grace period ended/);
    expect((await g.gw.housekeeping.runNow()).retirementsCompleted).toBe(1);
    expect(await g.api.ok('GET', `/certificates/${identitySerial}`)).toMatchObject({ revocationReason: 'cessationOfOperation' });
    expect((await deviceOf(g, deviceId)).retiredAt).toEqual(expect.any(String));
    expect(await completion(g, deviceId)).toMatchObject({ actor: 'gateway', details: { how: 'grace', deviceId, revoked: [identitySerial] } });
    expect((await g.gw.housekeeping.runNow()).retirementsCompleted).toBe(0);
    expect((await sim.post(sim.message('97', 1, ''))).status).toBe(403);
  });
});
