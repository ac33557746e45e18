import { KeyObject, X509Certificate, createPublicKey, webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWindowsAdapter } from '../../../src/adapters/windows/index.js';
import { androidAdapter } from '../../../src/adapters/android/index.js';
import { buildCsr, generateDeviceKey } from '../../../src/sim/scep-client.js';
import { AndroidAgentSim } from '../../../src/sim/android.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { WindowsSimulator } from '../../../src/sim/windows.js';
import { textAt } from '../../../src/adapters/windows/xml.js';

// A simulated Windows client against a real gateway: MS-MDE2 enrollment with a
// one-time token, OMA-DM sessions, a real SCEP enrollment from the CSP values
// we sent, and the admin API showing what the device reported.

// The adapter's clock (not core's or the CA's) can be moved forward, to reach renewal time.
let skewMs = 0;
const skewedWindows = createWindowsAdapter({ now: () => new Date(Date.now() + skewMs) });

let t: TestGateway;
beforeAll(async () => {
  // Android is mounted too only so that a device of another platform can hold an identity certificate.
  t = await startTestGateway({ adapters: [skewedWindows, androidAdapter] });
});
afterAll(async () => {
  await t.stop();
});

let n = 0;
async function userWithToken() {
  const upn = `user${++n}@contoso.com`;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `User ${n}` });
  const token = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
  return { user, upn, token };
}

async function enrolledDevice(opts: { osVersion?: string } = {}) {
  const { user, upn, token } = await userWithToken();
  const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token.token, ...opts });
  const r = await sim.enroll();
  expect(r.fault).toBeUndefined();
  const deviceId = new X509Certificate(sim.identity!).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
  return { sim, user, upn, deviceId };
}

describe('Windows enrollment (MS-MDE2)', () => {
  it('answers the discovery probe and the Discover request with OnPremise and our service URLs', async () => {
    const { upn, token } = await userWithToken();
    expect(token.enrollmentUrl).toBe(`${t.url}/EnrollmentServer/Discovery.svc`);
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token.token });
    const d = await sim.discover();
    expect(d).toEqual({ authPolicy: 'OnPremise', policyUrl: `${t.url}/EnrollmentServer/Policy.svc`, enrollmentUrl: `${t.url}/EnrollmentServer/Enrollment.svc` });
    const p = await sim.getPolicies(d.policyUrl);
    expect(p.status).toBe(200);
    expect(p.minimalKeyLength).toBe(2048);
  });

  it('enrolls with UPN + token: identity certificate, trusted root, DMClient pointing at MDM.svc, device record', async () => {
    const { sim, user, deviceId } = await enrolledDevice();
    expect(sim.managementUrl).toBe(`${t.url}/ManagementServer/MDM.svc`);
    expect(Buffer.from(sim.root!).equals(Buffer.from(t.gw.root.certificate))).toBe(true);
    const cert = new X509Certificate(sim.identity!);
    expect(cert.checkIssued(new X509Certificate(t.gw.root.certificate))).toBe(true);
    // The identity certificate certifies the key the device generated for its PKCS#10.
    expect(cert.publicKey.export({ format: 'der', type: 'spki' }).equals(createPublicKey(sim.key!.keyObject).export({ format: 'der', type: 'spki' }))).toBe(true);
    const device = await t.api.ok('GET', `/devices/${deviceId}`);
    // The DeviceName the client sent is its report, not an admin name.
    expect(device).toMatchObject({ platform: 'windows', userId: user.id, name: null, reported: { name: sim.deviceName, conflicts: [] } });
    const certs = await t.api.ok('GET', `/certificates?deviceId=${deviceId}`);
    expect(certs.some((c: { kind: string }) => c.kind === 'identity')).toBe(true);
    expect(sim.provisioningDoc).toContain('<parm name="PROVIDER-ID" value="mdm-gateway"/>');
    expect(sim.provisioningDoc).toMatch(/<characteristic type="DMClient"><characteristic type="Provider"><characteristic type="mdm-gateway">/);
  });

  it('refuses a bad token, a reused token and a wrong UPN with MS-MDE2 faults', async () => {
    const { upn, token } = await userWithToken();
    const bad = new WindowsSimulator({ baseUrl: t.url, upn, password: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    const r1 = await bad.enroll();
    expect(r1.status).toBe(401);
    expect(r1.fault).toEqual({ subcode: 's:Authentication', reason: expect.stringMatching(/unknown/) });

    const wrongUpn = new WindowsSimulator({ baseUrl: t.url, upn: 'mallory@contoso.com', password: token.token });
    const r2 = await wrongUpn.enroll();
    expect(r2.status).toBe(403);
    expect(r2.fault?.subcode).toBe('s:Authorization');
    // A wrong account name does not burn the token: the right one still enrolls with it.
    const rightUpn = new WindowsSimulator({ baseUrl: t.url, upn, password: token.token });
    expect((await rightUpn.enroll()).fault).toBeUndefined();

    const { upn: upn3, token: token3 } = await userWithToken();
    const ok = new WindowsSimulator({ baseUrl: t.url, upn: upn3.toUpperCase(), password: token3.token.toLowerCase() });
    expect((await ok.enroll()).fault).toBeUndefined();
    const again = new WindowsSimulator({ baseUrl: t.url, upn: upn3, password: token3.token });
    const r3 = await again.enroll();
    expect(r3.fault).toEqual({ subcode: 's:Authentication', reason: expect.stringMatching(/used/) });
  });

  it('answers malformed and hostile enrollment messages with a MessageFormat fault, not a 500', async () => {
    const url = `${t.url}/EnrollmentServer/Enrollment.svc`;
    for (const body of ['not xml at all <', '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>']) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/soap+xml' }, body });
      expect(res.status).toBe(400);
      const text = await res.text();
      expect(text).toContain('s:MessageFormat');
    }
  });

  it('refuses a CSR that does not meet the identity policy with a CertificateRequest fault, without spending the token or making a device', async () => {
    const { user, upn, token } = await userWithToken();
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token.token });
    const d = await sim.discover();
    const weak = await generateDeviceKey('RSA', 1024);
    const good = await buildCsr(await generateDeviceKey('RSA', 2048), { subject: 'CN=tampered' });
    const tampered = Buffer.from(good);
    tampered[tampered.length - 1]! ^= 0xff; // the last byte of the signature
    // Found in the re-test: an EC key on a curve the identity policy refuses (P-521) passed the pre-check, so the
    // token was spent and a device record made before the issuance refused it (KEY_ALGORITHM_UNSUPPORTED).
    const p521pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-521' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const p521 = Buffer.from(await buildCsr({ keys: p521pair, keyObject: KeyObject.from(p521pair.privateKey) }, { subject: 'CN=p521' }));
    // Likewise a validly signed CSR over core's size bound (64 KiB) or BER element bound (4,000): MESSAGE_MALFORMED at issuance.
    const rsa = await generateDeviceKey('RSA', 2048);
    const huge = Buffer.from(await buildCsr(rsa, { subject: 'CN=huge', sans: Array.from({ length: 100 }, (_, i) => ({ type: 'dns' as const, value: `${i}.${'h'.repeat(700)}` })) }));
    const many = Buffer.from(await buildCsr(rsa, { subject: 'CN=many', sans: Array.from({ length: 4500 }, (_, i) => ({ type: 'dns' as const, value: `d${i}` })) }));
    expect(huge.length).toBeGreaterThan(64 * 1024);
    expect(many.length).toBeLessThan(64 * 1024);
    const csrs = [Buffer.from('not a csr'), Buffer.from(await buildCsr(weak, { subject: 'CN=weak' })), tampered, p521, huge, many];
    for (const csr of csrs) {
      const r = await sim.requestSecurityToken(d.enrollmentUrl, csr.toString('base64'));
      expect(r.fault?.subcode).toBe('s:CertificateRequest');
    }
    const devices = await t.api.ok('GET', '/devices');
    expect(devices.filter((x: { userId: string }) => x.userId === user.id)).toHaveLength(0);
    // The same token still enrolls.
    expect((await sim.enroll()).fault).toBeUndefined();
  });
});

describe('OMA-DM sessions', () => {
  it('delivers a profile, the device enrolls over SCEP, and the next session reports installed with our thumbprint', async () => {
    const { sim, user, deviceId } = await enrolledDevice();
    const group = await t.api.ok('POST', '/groups', { name: `win-staff-${n}` });
    await t.api.ok('POST', `/groups/${group.id}/members`, { userId: user.id });
    const profile = await t.api.ok('POST', '/profiles', {
      name: 'wifi user cert',
      scope: 'user',
      subjectName: 'CN={{UserPrincipalName}},OU=Staff,O=Contoso',
      subjectAlternativeNames: [
        { type: 'upn', value: '{{UserPrincipalName}}' },
        { type: 'email', value: '{{EmailAddress}}' },
      ],
      scepServerUrls: [t.scepUrl],
    });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, groupId: group.id });

    const s1 = await sim.session();
    const first = s1.messages[0]!;
    // SyncHdr status 212 on the authenticated first message; a Status per client command.
    const hdrStatus = first.statuses[0]!;
    expect(textAt(hdrStatus, 'Cmd')).toBe('SyncHdr');
    expect(textAt(hdrStatus, 'Data')).toBe('212');
    expect(first.statuses.map((s) => `${textAt(s, 'CmdRef')}:${textAt(s, 'Cmd')}:${textAt(s, 'Data')}`)).toEqual(['0:SyncHdr:212', '1:Alert:200', '2:Alert:200', '3:Replace:200']);
    expect(first.raw).toContain(`./User/Vendor/MSFT/ClientCertificateInstall/SCEP/mdmgw-${profile.id}/Install/Enroll`);
    expect(s1.enrolled).toHaveLength(1);
    expect(s1.enrolled[0]!.status).toBe(1);
    const thumbprint = s1.enrolled[0]!.thumbprint!;
    // Exec accepted proves nothing: after session 1 the admin sees "enrolling".
    let statuses = await t.api.ok('GET', `/devices/${deviceId}/deliveries`);
    expect(statuses).toEqual([expect.objectContaining({ profileId: profile.id, state: 'enrolling', thumbprint: null })]);

    const s2 = await sim.session();
    expect(s2.messages[0]!.raw).toContain(`SCEP/mdmgw-${profile.id}/CertThumbprint`);
    expect(s2.enrolled).toHaveLength(0); // nothing re-sent
    statuses = await t.api.ok('GET', `/devices/${deviceId}/deliveries`);
    const certs = await t.api.ok('GET', `/certificates?deviceId=${deviceId}`);
    const issued = certs.find((c: { kind: string; profileId: string }) => c.kind === 'profile' && c.profileId === profile.id);
    expect(issued.thumbprint).toBe(thumbprint);
    expect(statuses).toEqual([expect.objectContaining({ profileId: profile.id, profileVersion: 1, state: 'installed', thumbprint, certificateSerial: issued.serialNumber })]);

    // A third session is quiet: Status only, then Final (plus the SwV query).
    const s3 = await sim.session();
    expect(s3.messages.at(-1)!.commands).toHaveLength(0);
    expect(s3.messages.flatMap((m) => m.commands).map((c) => c.name)).toEqual(['Get']);

    // Device facts landed in the per-device state.
    const state = await t.gw.storage.getPlatformState(deviceId, 'windows');
    expect((state as any).nodes['./DevInfo/Man']).toBe('Contoso Hardware');
    expect((state as any).osVersion).toBe('10.0.19045.0');
  });

  it('refuses the identity certificate of a device of another platform with 403', async () => {
    const { user } = await userWithToken();
    const agent = new AndroidAgentSim(t.url);
    await agent.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
    const sim = new WindowsSimulator({ baseUrl: t.url, upn: user.userPrincipalName, password: 'unused' });
    const r = await sim.post(sim.message('1', 1, sim.firstPackage()), agent.authHeaders());
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text)).toEqual({ error: expect.stringMatching(/not a Windows device/) });
  });

  it('re-enrollment of a known device (same hardware id, fresh DM tree) installs its profiles again', async () => {
    const { sim, upn, deviceId } = await enrolledDevice();
    const profile = await t.api.ok('POST', '/profiles', { name: 'device cert', scope: 'device', subjectName: 'CN={{DeviceName}}', scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    const s1 = await sim.session();
    expect(s1.enrolled[0]!.status).toBe(1);
    await sim.session();
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0]).toMatchObject({ state: 'installed', thumbprint: s1.enrolled[0]!.thumbprint });

    // The device is reset (it lost its identity certificate) and enrolls again: a new simulator, same hardware id,
    // empty tree. Its DeviceID is already bound, so it takes the admin's reset: a token made for this device.
    const token2 = await t.api.ok('POST', '/enrollment-tokens', { deviceId, platform: 'windows' });
    const again = new WindowsSimulator({ baseUrl: t.url, upn, password: token2.token, hardwareId: sim.hardwareId });
    expect((await again.enroll()).fault).toBeUndefined();
    expect(new X509Certificate(again.identity!).subject).toContain(deviceId);
    expect((await t.gw.storage.listAudit({ type: 'windows.enrolled' })).at(-1)!.details).toMatchObject({ deviceId, proof: 'device-token' });
    // The identity certificate of the previous enrollment no longer opens an OMA-DM session.
    const old = await sim.post(sim.message('1', 1, sim.firstPackage()));
    expect(old.status).toBe(401);
    expect(JSON.parse(old.text)).toEqual({ error: expect.stringMatching(/superseded/) });
    const r1 = await again.session();
    expect(r1.enrolled).toHaveLength(1);
    expect(r1.enrolled[0]!.status).toBe(1);
    expect(r1.enrolled[0]!.thumbprint).not.toBe(s1.enrolled[0]!.thumbprint);
    await again.session();
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0]).toMatchObject({ profileId: profile.id, state: 'installed', thumbprint: r1.enrolled[0]!.thumbprint });
  });

  it('installs again a profile re-assigned while its Delete was never acknowledged (Replace on the node)', async () => {
    const { sim, deviceId } = await enrolledDevice();
    const profile = await t.api.ok('POST', '/profiles', { name: 'device cert', scope: 'device', subjectName: 'CN={{DeviceName}}', scepServerUrls: [t.scepUrl] });
    const a1 = await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    const s1 = await sim.session();
    expect(s1.enrolled[0]!.status).toBe(1);
    await sim.session();
    await t.api.ok('DELETE', `/assignments/${a1.id}`, undefined, 204);
    // The server sends the Delete; the device never answers (the session breaks off).
    const cut = await sim.post(sim.message('900', 1, sim.firstPackage()));
    expect(cut.msg!.raw).toContain('<Delete>');
    expect(((await t.gw.storage.getPlatformState(deviceId, 'windows')) as any).profiles[profile.id].phase).toBe('removing');

    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    const s3 = await sim.session();
    const sent = s3.messages.map((m) => m.raw).join('');
    expect(sent).toContain('<Replace>');
    expect(s3.enrolled).toHaveLength(1);
    expect(s3.enrolled[0]!.status).toBe(1);
    await sim.session();
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0]).toMatchObject({ profileId: profile.id, state: 'installed', thumbprint: s3.enrolled[0]!.thumbprint });
  });

  it('refuses unauthenticated OMA-DM with 401 and malformed SyncML with 400, and answers unknown commands with SyncML statuses', async () => {
    const { sim } = await enrolledDevice();
    const msg = sim.message('77', 1, sim.firstPackage());
    expect((await sim.post(msg, {})).status).toBe(401);
    expect((await sim.post('<SyncML><SyncHdr/>', sim.certHeader())).status).toBe(400);
    expect((await sim.post('<!DOCTYPE SyncML><SyncML/>', sim.certHeader())).status).toBe(400);
    expect((await sim.post(sim.message('', 1, ''), sim.certHeader())).status).toBe(400);
    const odd = sim.message(
      '78',
      1,
      [
        '<Alert><CmdID>1</CmdID><Data>1201</Data></Alert>',
        '<Frobnicate><CmdID>2</CmdID></Frobnicate>',
        '<Get><CmdID>3</CmdID><Item><Target><LocURI>./Vendor/MSFT/X</LocURI></Target></Item></Get>',
        '<Alert><Data>1201</Data></Alert>',
        '<Alert><CmdID>5</CmdID><Data>9999</Data></Alert>',
      ].join(''),
    );
    const r = await sim.post(odd);
    expect(r.status).toBe(200);
    expect(r.msg!.statuses.map((s) => `${textAt(s, 'CmdRef') ?? ''}:${textAt(s, 'Cmd')}:${textAt(s, 'Data')}`)).toEqual([
      '0:SyncHdr:212',
      '1:Alert:200',
      '2:Frobnicate:400',
      '3:Get:501',
      ':Alert:400',
      '5:Alert:406',
    ]);
    // MsgIDs continue the session (200 on later messages); a repeated MsgID is refused at the header.
    const second = await sim.post(sim.message('78', 2, ''));
    expect(textAt(second.msg!.statuses[0]!, 'Data')).toBe('200');
    expect(textAt(second.msg!.root, 'SyncHdr', 'MsgID')).toBe('2');
    const stale = await sim.post(sim.message('78', 2, ''));
    expect(textAt(stale.msg!.statuses[0]!, 'Data')).toBe('400');
    expect(stale.msg!.commands).toHaveLength(0);
  });

  it('re-issues on a new profile version (Replace on the existing node), removes an unassigned profile with Delete', async () => {
    const { sim, deviceId } = await enrolledDevice();
    const spec = { name: 'device cert', scope: 'device', subjectName: 'CN={{DeviceName}},O=Contoso', scepServerUrls: [t.scepUrl] };
    const profile = await t.api.ok('POST', '/profiles', spec);
    const assignment = await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    const s1 = await sim.session();
    expect(s1.enrolled[0]!.status).toBe(1);
    await sim.session();
    const v1 = (await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0];
    expect(v1).toMatchObject({ state: 'installed', profileVersion: 1 });

    await t.api.ok('PUT', `/profiles/${profile.id}`, { ...spec, subjectName: 'CN={{DeviceName}},OU=v2,O=Contoso' }, 200);
    const s3 = await sim.session();
    const sent = s3.messages.map((m) => m.raw).join('');
    expect(sent).toContain(`<Replace>`);
    expect(sent).toContain(`CN=${sim.deviceName},OU=v2,O=Contoso`);
    expect(sent).not.toMatch(new RegExp(`<Add>\\s*<CmdID>\\d+</CmdID>\\s*<Item>\\s*<Target>\\s*<LocURI>[^<]*SCEP/mdmgw-${profile.id}</LocURI>`));
    expect(s3.enrolled[0]!.status).toBe(1);
    await sim.session();
    const v2 = (await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0];
    expect(v2).toMatchObject({ state: 'installed', profileVersion: 2, thumbprint: s3.enrolled[0]!.thumbprint });
    expect(v2.thumbprint).not.toBe(v1.thumbprint);
    expect(v2.certificateSerial).not.toBeNull();

    await t.api.ok('DELETE', `/assignments/${assignment.id}`, undefined, 204);
    const s5 = await sim.session();
    expect(s5.messages[0]!.raw).toContain(`<Delete>`);
    expect([...sim.tree.keys()].some((k) => k.includes(`mdmgw-${profile.id}`))).toBe(false);
    const removed = (await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0];
    expect(removed).toMatchObject({ profileId: profile.id, state: 'removed' });
    // Nothing more to remove next time.
    const s6 = await sim.session();
    expect(s6.messages.flatMap((m) => m.commands).map((c) => c.name)).toEqual(['Get']);
  });

  it('re-issues inside the renewal threshold, timed from the issued certificate rather than from the installed report', async () => {
    const { sim, deviceId } = await enrolledDevice();
    // One day of validity, renew with 99 % left: due 14.4 minutes after the certificate's notBefore
    // (which the CA backdates by 5 minutes).
    const profile = await t.api.ok('POST', '/profiles', { name: 'short-lived', scope: 'device', subjectName: 'CN={{DeviceName}}', validityDays: 1, renewalThresholdPercent: 99, scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    const s1 = await sim.session();
    const first = s1.enrolled[0]!;
    expect(first.status).toBe(1);
    try {
      // The device checks in again 10 minutes later: the certificate is 15 minutes into its life, so this
      // session re-issues it, though the device reports it installed only now (counted from the report,
      // renewal would be 14.4 minutes away).
      skewMs = 10 * 60_000;
      const s2 = await sim.session();
      const sent = s2.messages.map((m) => m.raw).join('');
      expect(sent).toContain(`SCEP/mdmgw-${profile.id}/CertThumbprint`);
      expect(sent).toContain('<Replace>');
      expect(s2.enrolled).toHaveLength(1);
      expect(s2.enrolled[0]!.status).toBe(1);
      expect(s2.enrolled[0]!.thumbprint).not.toBe(first.thumbprint);
      const reports = (await t.api.ok('GET', '/audit?type=device.report')).filter((e: any) => e.details.deviceId === deviceId).map((e: any) => e.details);
      const installed = reports.find((r: any) => r.state === 'installed' && r.thumbprint === first.thumbprint);
      expect(installed).toMatchObject({ profileId: profile.id, certificateSerial: expect.any(String), detail: null });
      expect(reports.slice(reports.indexOf(installed))).toContainEqual(expect.objectContaining({ profileId: profile.id, state: 'pending', detail: 'renewal: inside the renewal threshold' }));
    } finally {
      skewMs = 0;
    }
    // Back on the real clock the renewed certificate is fresh: installed, then quiet.
    await sim.session();
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0]).toMatchObject({ state: 'installed', thumbprint: sim.tree.get(`${first.node}/CertThumbprint`), detail: null });
    const quiet = await sim.session();
    expect(quiet.messages.flatMap((m) => m.commands).map((c) => c.name)).toEqual(['Get']);
  });

  it('looks the certificate up for a profile installed before its validity was recorded', async () => {
    const { sim, deviceId } = await enrolledDevice();
    const profile = await t.api.ok('POST', '/profiles', { name: 'short-lived', scope: 'device', subjectName: 'CN={{DeviceName}}', validityDays: 1, renewalThresholdPercent: 99, scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    expect((await sim.session()).enrolled[0]!.status).toBe(1);
    await sim.session();
    // State as the adapter wrote it before: installed, with a thumbprint, no validity.
    const state = (await t.gw.storage.getPlatformState(deviceId, 'windows')) as any;
    expect(state.profiles[profile.id]).toMatchObject({ phase: 'installed', validity: { source: 'issued' } });
    delete state.profiles[profile.id].validity;
    await t.gw.storage.putPlatformState(deviceId, 'windows', state);
    try {
      skewMs = 10 * 60_000; // past the issued certificate's renewal time, not past installedAt's
      expect((await sim.session()).enrolled).toHaveLength(1);
    } finally {
      skewMs = 0;
    }
  });

  it('falls back to the installed report plus validityDays for a thumbprint we never issued, and says so', async () => {
    const { sim, deviceId } = await enrolledDevice();
    const profile = await t.api.ok('POST', '/profiles', { name: 'short-lived', scope: 'device', subjectName: 'CN={{DeviceName}}', validityDays: 1, renewalThresholdPercent: 99, scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    const s1 = await sim.session();
    expect(s1.enrolled[0]!.status).toBe(1);
    sim.tree.set(`${s1.enrolled[0]!.node}/CertThumbprint`, 'AB'.repeat(20));
    try {
      skewMs = 10 * 60_000;
      const s2 = await sim.session();
      expect(s2.enrolled).toHaveLength(0); // 14.4 minutes from the report: not yet
      const [status] = await t.api.ok('GET', `/devices/${deviceId}/deliveries`);
      expect(status).toMatchObject({ state: 'installed', thumbprint: 'AB'.repeat(20), certificateSerial: null });
      expect(status.detail).toMatch(/renewal is timed from this report plus the profile validity/);
      skewMs = 25 * 60_000;
      const s3 = await sim.session();
      expect(s3.enrolled).toHaveLength(1);
    } finally {
      skewMs = 0;
    }
  });

  it('reports a device-side failure with its HRESULT and meaning, and an undeliverable profile once', async () => {
    const { sim, deviceId } = await enrolledDevice();
    const profile = await t.api.ok('POST', '/profiles', { name: 'fails', scope: 'device', subjectName: 'CN={{DeviceName}}', scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    const broken = await t.api.ok('POST', '/profiles', { name: 'needs serial', scope: 'device', subjectName: 'CN={{SerialNumber}}' });
    await t.api.ok('POST', '/assignments', { profileId: broken.id, deviceId });
    sim.scepBehaviour = 'unreachable';
    await sim.session();
    await sim.session();
    const statuses = await t.api.ok('GET', `/devices/${deviceId}/deliveries`);
    const byProfile = Object.fromEntries(statuses.map((x: { profileId: string }) => [x.profileId, x]));
    expect(byProfile[profile.id]).toMatchObject({ state: 'failed', errorCode: '0x80072EFD' });
    expect(byProfile[profile.id].detail).toMatch(/ERROR_INTERNET_CANNOT_CONNECT/);
    expect(byProfile[broken.id]).toMatchObject({ state: 'failed', errorCode: 'ATTRIBUTE_MISSING' });
    const reports = await t.api.ok('GET', '/audit?type=device.report');
    expect(reports.filter((e: any) => e.details.profileId === broken.id)).toHaveLength(1);
  });

  it('uses the CertificateStore form for Windows 8.1, and the device enrolls with it', async () => {
    const { sim, deviceId } = await enrolledDevice({ osVersion: '6.3.9600.0' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'legacy', scope: 'device', subjectName: 'CN={{DeviceName}}', hashAlgorithm: 'SHA-1', scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    sim.tree.set('./DevDetail/SwV', '6.3.9600.0');
    const s1 = await sim.session();
    const raw = s1.messages.map((m) => m.raw).join('');
    expect(raw).toContain(`./Vendor/MSFT/CertificateStore/My/SCEP/mdmgw-${profile.id}/Install/HashAlgrithm`);
    expect(raw).not.toContain('ClientCertificateInstall');
    expect(s1.enrolled[0]!.status).toBe(1);
    await sim.session();
    expect((await t.api.ok('GET', `/devices/${deviceId}/deliveries`))[0]).toMatchObject({ state: 'installed', thumbprint: s1.enrolled[0]!.thumbprint });
  });
});

describe('device identity cannot be cloned (S3) and the DeviceName is a report (S4)', () => {
  /** A victim device with a profile installed, so that its delivery state is visible. */
  async function victimWithProfile() {
    const v = await enrolledDevice();
    const profile = await t.api.ok('POST', '/profiles', { name: 'device cert', scope: 'device', subjectName: 'CN={{DeviceId}}', scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: v.deviceId });
    const s1 = await v.sim.session();
    await v.sim.session();
    const installed = await t.api.ok('GET', `/devices/${v.deviceId}/deliveries`);
    expect(installed[0]).toMatchObject({ state: 'installed', thumbprint: s1.enrolled[0]!.thumbprint });
    return { ...v, installed };
  }

  const identities = async (deviceId: string) =>
    (await t.api.ok('GET', `/certificates?deviceId=${deviceId}`)).filter((c: { kind: string }) => c.kind === 'identity');

  it('refuses a second token of the same user claiming an enrolled DeviceID, before spending it; the device keeps its identity and state', async () => {
    const victim = await victimWithProfile();
    const before = await identities(victim.deviceId);
    const token2 = await t.api.ok('POST', '/enrollment-tokens', { userId: victim.user.id, platform: 'windows' });
    const clone = new WindowsSimulator({ baseUrl: t.url, upn: victim.upn, password: token2.token, hardwareId: victim.sim.hardwareId });
    const r = await clone.enroll();
    expect(r.status).toBe(403);
    expect(r.fault).toEqual({ subcode: 's:Authorization', reason: expect.stringMatching(/DeviceID belongs to an enrolled device/) });
    expect(clone.identity).toBeUndefined();
    // No second identity certificate, no reset delivery state, no new device.
    expect(await identities(victim.deviceId)).toEqual(before);
    expect(await t.api.ok('GET', `/devices/${victim.deviceId}/deliveries`)).toEqual(victim.installed);
    expect((await t.api.ok('GET', '/devices')).filter((d: { userId: string }) => d.userId === victim.user.id)).toHaveLength(1);
    const audit = (await t.gw.storage.listAudit({ type: 'windows.enrollment.refused' })).at(-1)!;
    expect(audit).toMatchObject({ reasonCode: 'ENROLLMENT_DEVICE_CLAIMED', details: { reason: 'hardware-id-claimed', claimedDeviceId: victim.deviceId, hardwareId: victim.sim.hardwareId } });
    // An oversized DeviceID is a message error, not a key.
    const long = await new WindowsSimulator({ baseUrl: t.url, upn: victim.upn, password: token2.token, hardwareId: 'A'.repeat(129) }).enroll();
    expect(long.fault).toEqual({ subcode: 's:MessageFormat', reason: 'the DeviceID is longer than 128 characters' });
    // The token was not spent: with its own DeviceID the same request enrolls a new device.
    const honest = new WindowsSimulator({ baseUrl: t.url, upn: victim.upn, password: token2.token });
    expect((await honest.enroll()).fault).toBeUndefined();
    expect(new X509Certificate(honest.identity!).subject).not.toContain(victim.deviceId);
  });

  it('refuses another user\'s token claiming the DeviceID, and an admin token for another device claiming it', async () => {
    const victim = await enrolledDevice();
    const other = await userWithToken();
    const r1 = await new WindowsSimulator({ baseUrl: t.url, upn: other.upn, password: other.token.token, hardwareId: victim.sim.hardwareId }).enroll();
    expect(r1.fault).toEqual({ subcode: 's:Authorization', reason: expect.stringMatching(/belongs to an enrolled device/) });

    const device = await t.api.ok('POST', '/devices', { name: 'spare-laptop', platform: 'windows', userId: other.user.id });
    const forSpare = await t.api.ok('POST', '/enrollment-tokens', { deviceId: device.id, platform: 'windows' });
    const r2 = await new WindowsSimulator({ baseUrl: t.url, upn: other.upn, password: forSpare.token, hardwareId: victim.sim.hardwareId }).enroll();
    expect(r2.fault).toEqual({ subcode: 's:Authorization', reason: expect.stringMatching(/belongs to another enrolled device/) });
    // The victim's DeviceID still leads to the victim: its own re-enrollment (below) finds it.
    const again = new WindowsSimulator({ baseUrl: t.url, upn: victim.upn, password: (await t.api.ok('POST', '/enrollment-tokens', { userId: victim.user.id, platform: 'windows' })).token, hardwareId: victim.sim.hardwareId, enrollmentHeaders: victim.sim.certHeader() });
    expect((await again.enroll()).fault).toBeUndefined();
    expect(new X509Certificate(again.identity!).subject).toContain(victim.deviceId);
  });

  it('re-enrolls a device that proves it with its current identity certificate, and refuses a superseded one', async () => {
    const victim = await victimWithProfile();
    const newToken = async () => (await t.api.ok('POST', '/enrollment-tokens', { userId: victim.user.id, platform: 'windows' })).token;
    const again = new WindowsSimulator({ baseUrl: t.url, upn: victim.upn, password: await newToken(), hardwareId: victim.sim.hardwareId, enrollmentHeaders: victim.sim.certHeader() });
    expect((await again.enroll()).fault).toBeUndefined();
    expect(new X509Certificate(again.identity!).subject).toContain(victim.deviceId);
    expect((await t.gw.storage.listAudit({ type: 'windows.enrolled' })).at(-1)!.details).toMatchObject({ deviceId: victim.deviceId, proof: 'identity-certificate' });
    // A new DM client: the profile is delivered again.
    const r1 = await again.session();
    expect(r1.enrolled).toHaveLength(1);

    // The first identity certificate is no longer the device's current one: it proves nothing for another re-enrollment.
    const stale = new WindowsSimulator({ baseUrl: t.url, upn: victim.upn, password: await newToken(), hardwareId: victim.sim.hardwareId, enrollmentHeaders: victim.sim.certHeader() });
    const r = await stale.enroll();
    expect(r.fault).toEqual({ subcode: 's:Authorization', reason: expect.stringMatching(/current identity certificate/) });
    // The device authenticator itself refuses a superseded identity certificate now (it proves no device at all), so the
    // binding sees a claimed DeviceID without proof.
    expect((await t.gw.storage.listAudit({ type: 'windows.enrollment.refused' })).at(-1)!.details).toMatchObject({ reason: 'hardware-id-claimed', presentedDeviceId: null });
    // Another device's valid identity certificate does not prove this one either.
    const third = await enrolledDevice();
    const borrowed = new WindowsSimulator({ baseUrl: t.url, upn: victim.upn, password: await newToken(), hardwareId: victim.sim.hardwareId, enrollmentHeaders: third.sim.certHeader() });
    expect((await borrowed.enroll()).fault?.subcode).toBe('s:Authorization');
  });

  it('keeps the DeviceName the client sends as a reported value; one that is another device\'s name never reaches a certificate', async () => {
    const admin = await t.api.ok('POST', '/devices', { name: `LAPTOP-CEO-${n}`, platform: 'windows' });
    const { user, upn, token } = await userWithToken();
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token.token, deviceName: admin.name.toLowerCase() });
    expect((await sim.enroll()).fault).toBeUndefined();
    const deviceId = new X509Certificate(sim.identity!).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
    const device = await t.api.ok('GET', `/devices/${deviceId}`);
    expect(device).toMatchObject({ userId: user.id, name: null, reported: { name: admin.name.toLowerCase(), conflicts: ['name'] } });
    expect((await t.gw.storage.listAudit({ type: 'device.reported.conflict' })).at(-1)).toMatchObject({ reasonCode: 'REPORTED_VALUE_CONFLICT', details: { deviceId, field: 'name', otherDevices: [admin.id] } });

    const profile = await t.api.ok('POST', '/profiles', { name: 'wifi', scope: 'device', subjectName: 'CN={{DeviceName}},O=Contoso', scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    const s1 = await sim.session();
    expect(s1.enrolled).toHaveLength(0);
    const [status] = await t.api.ok('GET', `/devices/${deviceId}/deliveries`);
    expect(status).toMatchObject({ profileId: profile.id, state: 'failed', errorCode: 'ATTRIBUTE_MISSING' });
    expect(status.detail).toMatch(/\{\{DeviceName\}\}.*another device's/);
    expect((await t.api.ok('GET', `/certificates?deviceId=${deviceId}`)).filter((c: { kind: string }) => c.kind === 'profile')).toHaveLength(0);

    // The admin names the device: that name is used, whatever the device reports.
    await t.api.ok('PATCH', `/devices/${deviceId}`, { name: `LAPTOP-ADA-${n}` });
    const s2 = await sim.session();
    expect(s2.messages.map((m) => m.raw).join('')).toContain(`CN=LAPTOP-ADA-${n},O=Contoso`);
  });
});
