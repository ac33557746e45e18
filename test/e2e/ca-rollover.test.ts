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
import { WindowsSimulator } from '../adapters/windows/simulator.js';
import { rollOverCa } from '../../src/ca/ca-rollover.js';
import { getCaCerts, scepEnroll } from '../../src/sim/scep-client.js';
import { AndroidAgentSim, sha256Hex } from '../adapters/android/simulator.js';
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
  let winThumbprint: string;
  const adapters = () => [androidAdapter, createWindowsAdapter()];
  const thumbprintOf = (der: Uint8Array) => new X509Certificate(der).fingerprint.replace(/:/g, '');
  const challenge = async () => (await t.api.ok('POST', '/challenges', { profileId, deviceId })).challenge as string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'mdmgw-rollover-'));
    t = await startTestGateway({ dataDir, adapters: adapters() });
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
    await t.stop();

    // The CLI, as an operator runs it (the gateway is stopped here; a running one switches at restart).
    const cli = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'ca', 'rollover', '--data-dir', dataDir], { cwd: process.cwd(), env: { ...process.env, MDMGW_CA_PASSPHRASE: '' } });
    expect(cli.stdout).toContain(`retired CA ${oldCaId}`);
    t = await startTestGateway({ dataDir, adapters: adapters() });
    agent = Object.assign(agent, { baseUrl: t.url }) as AndroidAgentSim;
    win.o.baseUrl = t.url;
    win.managementUrl = `${t.url}/ManagementServer/MDM.svc`;
  }, 120_000);
  afterAll(async () => {
    await t.stop();
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
});
