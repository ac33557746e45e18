import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../src/adapters/android/index.js';
import { createWindowsAdapter } from '../../src/adapters/windows/index.js';
import { WindowsSimulator } from '../../src/sim/windows.js';
import { createAppleAdapter } from '../../src/adapters/apple/index.js';
import { FakeApns, pushCertificate } from '../../src/sim/fake-apns.js';
import { AppleDeviceSim } from '../../src/sim/apple.js';
import { rollOverCa } from '../../src/ca/ca-rollover.js';
import { getCaCerts, scepEnroll } from '../../src/sim/scep-client.js';
import { AndroidAgentSim, sha256Hex } from '../../src/sim/android.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// CA rollover (lifecycle issue #9, item 4): `mdmgw ca rollover` makes a new
// CA; the old one stays in `authorities.all` (its CRL/OCSP keep answering)
// while its certificates live; a device gets the new root before any
// certificate under it, and keeps checking in throughout.

const run = promisify(execFile);
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const signedBy = (cert: Uint8Array, ca: Uint8Array) => {
  const c = new X509Certificate(cert);
  const r = new X509Certificate(ca);
  return c.checkIssued(r) && c.verify(r.publicKey);
};

describe('CA rollover', () => {
  let dataDir: string;
  let t: TestGateway;
  let oldCa: Uint8Array;
  let oldCaId: string;
  let oldRa: Uint8Array;
  let agent: AndroidAgentSim;
  let oldIdentity: Uint8Array;
  let profileId: string;
  let deviceId: string;
  let win: WindowsSimulator;
  let legacy: Awaited<ReturnType<typeof scepEnroll>>;
  let winThumbprint: string;
  let apns: FakeApns;
  let mac: AppleDeviceSim;
  let macProfileId: string;
  const adapters = () => [androidAdapter, createWindowsAdapter(), createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })];
  const sha1Of = (der: Uint8Array) => new X509Certificate(der).fingerprint.replace(/:/g, '');
  const thumbprintOf = (der: Uint8Array) => new X509Certificate(der).fingerprint.replace(/:/g, '');
  const challenge = async () => (await t.api.ok('POST', '/challenges', { profileId, deviceId })).challenge as string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'mdmgw-rollover-'));
    apns = await FakeApns.start();
    t = await startTestGateway({ dataDir, adapters: adapters() });
    const push = await pushCertificate(apns.ca, 'com.apple.mgmt.External.7d0b5a2e-1c3f-4e6a-9b8d-2f4e6a8c0d1e');
    await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
    oldCa = t.gw.root.certificate;
    oldCaId = t.gw.authorities.current.id;
    oldRa = (await getCaCerts(t.scepUrl)).ra;
    // An Android device with a Wi-Fi certificate from the old CA.
    const user = await t.api.ok('POST', '/users', { userPrincipalName: 'ada@contoso.com', email: 'ada@contoso.com', displayName: 'Ada' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'Wi-Fi', scope: 'user', subjectName: 'CN={{UserPrincipalName}}' });
    profileId = profile.id;
    await t.api.ok('POST', '/assignments', { profileId, userId: user.id });
    agent = new AndroidAgentSim(t.url);
    const answer = await agent.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
    deviceId = answer.deviceId;
    oldIdentity = agent.identity!;
    const first = await agent.fetchPolicy();
    const [installed] = await agent.applyPolicy(first.document!);
    expect(signedBy(installed!.certificate, oldCa)).toBe(true);
    // A plain SCEP client's certificate (certmonger-like), renewed after the rollover.
    legacy = await scepEnroll({ scepUrl: t.scepUrl, challenge: await challenge(), subject: 'CN=ada@contoso.com' });
    expect(legacy.status).toBe('SUCCESS');

    // A Windows device with a device certificate from the old CA.
    const winUser = await t.api.ok('POST', '/users', { userPrincipalName: 'bo@contoso.com', email: 'bo@contoso.com', displayName: 'Bo' });
    const winProfile = await t.api.ok('POST', '/profiles', { name: 'Wi-Fi device', scope: 'device', subjectName: 'CN={{DeviceName}}' });
    const winToken = await t.api.ok('POST', '/enrollment-tokens', { userId: winUser.id, platform: 'windows' });
    win = new WindowsSimulator({ baseUrl: t.url, upn: 'bo@contoso.com', password: winToken.token });
    await win.enroll();
    const winDevice = (await t.api.ok('GET', '/devices')).find((d: { platform: string }) => d.platform === 'windows');
    await t.api.ok('POST', '/assignments', { profileId: winProfile.id, deviceId: winDevice.id });
    const s1 = await win.session();
    expect(s1.enrolled).toHaveLength(1);
    winThumbprint = s1.enrolled[0]!.thumbprint!;
    await win.session(); // reports it installed
    expect(win.events).toEqual([`root:${thumbprintOf(oldCa)}`, `cert:${thumbprintOf(oldCa)}`]);

    // An iPhone with a device certificate from the old CA.
    const macUser = await t.api.ok('POST', '/users', { userPrincipalName: 'cy@contoso.com', email: 'cy@contoso.com', displayName: 'Cy' });
    mac = new AppleDeviceSim(t.url, 'ios');
    await mac.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: macUser.id, platform: 'ios' })).enrollmentUrl);
    const macDeviceId = new X509Certificate(mac.identity!.certificate).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
    macProfileId = (await t.api.ok('POST', '/profiles', { name: 'VPN', scope: 'device', subjectName: 'CN={{DeviceName}},O=Contoso' })).id;
    await t.api.ok('POST', '/assignments', { profileId: macProfileId, deviceId: macDeviceId });
    expect((await mac.authenticate()).status).toBe(200);
    expect((await mac.tokenUpdate()).status).toBe(200);
    expect((await mac.drain()).map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    expect(mac.events).toEqual([`root:${sha1Of(oldCa)}`, `cert:${sha1Of(oldCa)}`]);
    await t.stop();

    // The CLI, as an operator runs it (the gateway is stopped here; a running one switches at restart).
    const cli = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'ca', 'rollover', '--data-dir', dataDir], { cwd: process.cwd(), env: { ...process.env, MDMGW_CA_PASSPHRASE: '' } });
    expect(cli.stdout).toContain(`retired CA ${oldCaId}`);
    t = await startTestGateway({ dataDir, adapters: adapters() });
    agent = Object.assign(agent, { baseUrl: t.url }) as AndroidAgentSim;
    win.o.baseUrl = t.url;
    win.managementUrl = `${t.url}/ManagementServer/MDM.svc`;
    Object.assign(mac.enrollment!.mdm, { ServerURL: `${t.url}/mdm/connect`, CheckInURL: `${t.url}/mdm/checkin` });
  }, 120_000);
  afterAll(async () => {
    await t.stop();
    await apns.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps the old CA retired (files, still in authorities.all) and issues under the new one', () => {
    const { authorities } = t.gw;
    expect(authorities.current.id).not.toBe(oldCaId);
    expect(authorities.all.map((a) => a.id)).toEqual([authorities.current.id, oldCaId]);
    expect(authorities.byId(oldCaId)?.certificate).toEqual(oldCa);
    expect(readFileSync(path.join(dataDir, 'ca-retired', `${oldCaId}.pem`), 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(statSync(path.join(dataDir, 'ca-retired', `${oldCaId}.key`)).mode & 0o777).toBe(0o600);
    // Two roots, two names: chain building never confuses them.
    expect(new X509Certificate(authorities.current.certificate).subject).not.toBe(new X509Certificate(oldCa).subject);
  });

  it('GetCACert answers with the new CA and an RA it issued; a client holding the old RA still enrolls', async () => {
    const { ca, ra } = await getCaCerts(t.scepUrl);
    expect(same(ca, t.gw.authorities.current.certificate)).toBe(true);
    expect(signedBy(ra, ca)).toBe(true);
    expect(existsSync(path.join(dataDir, 'ra.previous.pem'))).toBe(true);
    const viaOld = await scepEnroll({ scepUrl: t.scepUrl, challenge: await challenge(), subject: 'CN=ada@contoso.com', raCertificate: oldRa });
    expect(viaOld.status).toBe('SUCCESS');
    expect(signedBy(viaOld.certificate!, t.gw.authorities.current.certificate)).toBe(true);
  });

  it('a SCEP client renews the certificate the old CA issued (RenewalReq, and the draft-era PKCSReq signed by it) and gets one from the new CA', async () => {
    for (const messageType of ['RenewalReq', 'PKCSReq'] as const) {
      const r = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=ada@contoso.com', renewWith: { certificate: legacy.certificate!, key: legacy.key }, messageType });
      expect(r.status, `${messageType}: ${r.failInfoText ?? ''}`).toBe('SUCCESS');
      expect(signedBy(r.certificate!, t.gw.authorities.current.certificate)).toBe(true);
    }
  });

  it('Android: the first check-in brings the new root, the next one re-issues under the new CA, and the device keeps checking in', async () => {
    const newRootSha = sha256Hex(t.gw.authorities.current.certificate);
    agent.events.length = 0;
    // Check-in 1, with the identity certificate the old CA issued.
    expect(same(agent.identity!, oldIdentity)).toBe(true);
    const first = await agent.fetchPolicy();
    expect(first.status).toBe(200);
    const policy = first.document!.policies.find((p) => p.id === profileId)!;
    expect(policy.action).toBe('keep');
    expect(policy.trustedRoots.map((r) => sha256Hex(Buffer.from(r, 'base64')))).toEqual([newRootSha, sha256Hex(oldCa)]);
    expect(await agent.applyPolicy(first.document!)).toEqual([]);
    expect(agent.events).toEqual([`root:${newRootSha}`]);

    // Check-in 2: now the certificate is renewed, under the new CA.
    const second = await agent.fetchPolicy();
    expect(second.document!.policies.find((p) => p.id === profileId)!.action).toBe('renew');
    const [renewed] = await agent.applyPolicy(second.document!);
    expect(signedBy(renewed!.certificate, t.gw.authorities.current.certificate)).toBe(true);
    expect(agent.events).toEqual([`root:${newRootSha}`, `cert:${profileId}:${newRootSha}`]);
    const record = await t.gw.storage.findCertificateByThumbprint(renewed!.thumbprint);
    expect(record?.issuerId).toBe(t.gw.authorities.current.id);

    // Check-in 3: settled.
    const third = await agent.fetchPolicy();
    expect(third.status).toBe(200);
    expect(third.document!.policies.find((p) => p.id === profileId)!.action).toBe('keep');
  });

  it('Windows: a session first adds the new root alone, re-issues only after the device confirmed it, and the device keeps checking in', async () => {
    const newRoot = thumbprintOf(t.gw.authorities.current.certificate);
    win.events.length = 0;
    const s3 = await win.session();
    // The root Add went out (and was confirmed) in a message before the SCEP install.
    const rootMsg = s3.messages.findIndex((m) => m.raw.includes(`RootCATrustedCertificates/Root/${newRoot}/EncodedCertificate`));
    const installMsg = s3.messages.findIndex((m) => m.raw.includes('/Install/Enroll'));
    expect(rootMsg).toBeGreaterThanOrEqual(0);
    expect(installMsg).toBeGreaterThan(rootMsg);
    expect(s3.enrolled).toHaveLength(1);
    expect(win.events).toEqual([`root:${newRoot}`, `cert:${newRoot}`]);
    const renewed = await t.gw.storage.findCertificateByThumbprint(s3.enrolled[0]!.thumbprint!);
    expect(renewed?.issuerId).toBe(t.gw.authorities.current.id);
    expect(s3.enrolled[0]!.thumbprint).not.toBe(winThumbprint);

    // Next session: installed under the new CA; nothing more to do after that.
    const s4 = await win.session();
    expect(s4.enrolled).toHaveLength(0);
    const s5 = await win.session();
    expect(s5.messages.some((m) => m.raw.includes('/Install/Enroll') || m.raw.includes('RootCATrustedCertificates'))).toBe(false);
    expect(s5.enrolled).toHaveLength(0);
  });

  it('Apple: the roots profile is acknowledged first, the certificate is re-issued at the next Idle, and the device keeps checking in', async () => {
    const newRoot = sha1Of(t.gw.authorities.current.certificate);
    mac.events.length = 0;
    // Idle 1: only the roots profile (the old identity certificate still authenticates).
    const first = await mac.drain();
    expect(first.map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    expect(mac.installed.has('com.mdm-gateway.trust')).toBe(true);
    expect(mac.events).toEqual([`root:${newRoot}`]);
    // Idle 2: the profile again, enrolling under the new CA.
    const second = await mac.drain();
    expect(second.map((c) => c.Command.RequestType)).toEqual(['InstallProfile']);
    expect(mac.events).toEqual([`root:${newRoot}`, `cert:${newRoot}`]);
    const cert = mac.installed.get(`com.mdm-gateway.profile.${macProfileId}`)!.certificate!;
    expect(signedBy(cert, t.gw.authorities.current.certificate)).toBe(true);
    expect((await t.gw.storage.findCertificateByThumbprint(sha1Of(cert)))?.issuerId).toBe(t.gw.authorities.current.id);
    // Idle 3: settled.
    expect(await mac.drain()).toEqual([]);
  });
});
