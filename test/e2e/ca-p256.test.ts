import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../src/adapters/android/index.js';
import { createAppleAdapter } from '../../src/adapters/apple/index.js';
import { windowsAdapter } from '../../src/adapters/windows/index.js';
import { publicKeyBits } from '../../src/ca/certificate-builder.js';
import { toPem } from '../../src/pem.js';
import { AndroidAgentSim } from '../../src/sim/android.js';
import { AppleDeviceSim } from '../../src/sim/apple.js';
import { FakeApns, pushCertificate } from '../../src/sim/fake-apns.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { WindowsSimulator } from '../../src/sim/windows.js';
import { readCertificate, subjectKeyIdentifierOf } from '../../src/x509/cert-raw.js';
import { openssl, opensslOutput, tempDir } from '../ca/helpers.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Issue 13: MDMGW_CA_KEY=p256. A gateway whose CA is EC P-256 signs every
// certificate, CRL and OCSP responder certificate with ecdsa-with-SHA256; the
// SCEP RA stays RSA (clients encrypt to it). Relying parties (openssl verify,
// openssl ocsp) and the Apple and Windows simulators accept the chain.

const ECDSA_WITH_SHA256_DER = '300a06082a8648ce3d040302'; // SEQUENCE { OID 1.2.840.10045.4.3.2 }, no parameters
const TOPIC = 'com.apple.mgmt.External.p2560000-0000-4000-8000-000000000001';

let t: TestGateway;
let apns: FakeApns;
const dir = tempDir('mdmgw-p256-');
let caPem: string;
let profile: { id: string };

const file = (name: string, bytes: Uint8Array | string): string => {
  const p = join(dir.path, name);
  writeFileSync(p, bytes);
  return p;
};
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const serialOf = (der: Uint8Array) => new X509Certificate(der).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');

async function enroll(name: string): Promise<Uint8Array> {
  const device = await t.api.ok('POST', '/devices', { name, platform: 'android' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
  const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
  const r = await scepEnroll({ scepUrl: t.scepUrl, subject: `CN=${name}, O=P256`, challenge });
  expect(r.status).toBe('SUCCESS');
  return r.certificate!;
}

/** `openssl verify -crl_check` with the CRL fetched from the certificate's CDP. */
async function crlVerdict(leaf: Uint8Array, name: string): Promise<{ verdict: string; crlText: string }> {
  const cdp = /URI:(\S+\.crl)/.exec(openssl(['x509', '-inform', 'DER', '-noout', '-ext', 'crlDistributionPoints'], { input: leaf }))![1]!;
  const res = await fetch(cdp);
  expect(res.status).toBe(200);
  const crl = file(`${name}.crl`, new Uint8Array(await res.arrayBuffer()));
  openssl(['crl', '-inform', 'DER', '-in', crl, '-out', `${crl}.pem`]);
  const crlText = opensslOutput(['crl', '-in', `${crl}.pem`, '-CAfile', caPem, '-noout', '-verify', '-text']);
  return { verdict: opensslOutput(['verify', '-crl_check', '-CAfile', caPem, '-CRLfile', `${crl}.pem`, file(`${name}.pem`, toPem(leaf))]), crlText };
}

/** `openssl ocsp` against the gateway: asynchronous (a synchronous child would block the gateway in this process). */
const ocsp = (leaf: string): Promise<string> =>
  new Promise((resolve) => {
    execFile('openssl', ['ocsp', '-CAfile', caPem, '-issuer', caPem, '-cert', join(dir.path, leaf), '-url', `${t.url}/ocsp`, '-resp_text'], { timeout: 30_000 }, (_e, stdout, stderr) => resolve(`${stdout}\n${stderr}`));
  });

beforeAll(async () => {
  apns = await FakeApns.start();
  t = await startTestGateway({ env: { MDMGW_CA_KEY: 'p256' }, adapters: [windowsAdapter, androidAdapter, createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })] });
  const push = await pushCertificate(apns.ca, TOPIC);
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
  caPem = file('ca.pem', t.gw.rootPem);
  profile = await t.api.ok('POST', '/profiles', { name: 'p256', scope: 'device', subjectName: 'CN={{DeviceName}},O=P256', scepServerUrls: [t.scepUrl] });
});
afterAll(async () => {
  await t?.stop();
  await apns?.stop();
  dir.cleanup();
});

describe('MDMGW_CA_KEY=p256', () => {
  it('makes an EC P-256 root signed with ecdsa-with-SHA256 (no parameters); its SKI is the SHA-1 of the EC point; the RA stays RSA-2048', () => {
    const text = openssl(['x509', '-in', caPem, '-noout', '-text']);
    expect(text).toContain('Public Key Algorithm: id-ecPublicKey');
    expect(text).toContain('ASN1 OID: prime256v1');
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(text).not.toMatch(/WithRSAEncryption/);
    const root = readCertificate(new X509Certificate(t.gw.rootPem).raw);
    expect(hex(root.signatureAlgorithm)).toBe(ECDSA_WITH_SHA256_DER);
    const point = publicKeyBits(root.spki);
    expect(point.length).toBe(65); // uncompressed: 04 || X || Y
    expect(hex(subjectKeyIdentifierOf(root)!)).toBe(createHash('sha1').update(point).digest('hex'));

    const raText = openssl(['x509', '-in', join(t.dataDir, 'ra.pem'), '-noout', '-text']);
    expect(raText).toContain('Public Key Algorithm: rsaEncryption');
    expect(raText).toMatch(/Public-Key: \(2048 bit\)/);
    expect(raText).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(opensslOutput(['verify', '-CAfile', caPem, join(t.dataDir, 'ra.pem')])).toMatch(/: OK$/m);
  });

  it('issues over SCEP: ecdsa-with-SHA256, AKI = the root SKI, openssl verify OK against the P-256 root', async () => {
    const leaf = await enroll('p256-scep');
    const raw = readCertificate(leaf);
    expect(hex(raw.signatureAlgorithm)).toBe(ECDSA_WITH_SHA256_DER);
    const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], { input: leaf });
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(text).toContain('Public Key Algorithm: rsaEncryption'); // the device key stays RSA
    const rootSki = subjectKeyIdentifierOf(readCertificate(new X509Certificate(t.gw.rootPem).raw))!;
    expect(text.replace(/:/g, '').toLowerCase()).toContain(hex(rootSki));
    expect(opensslOutput(['verify', '-CAfile', caPem, file('scep.pem', toPem(leaf))])).toMatch(/scep\.pem: OK$/m);
  });

  it('publishes an ECDSA-signed CRL: openssl verify -crl_check OK, then "certificate revoked" after POST /revoke', async () => {
    const leaf = await enroll('p256-crl');
    const before = await crlVerdict(leaf, 'crl-before');
    expect(before.verdict).toMatch(/: OK$/m);
    expect(before.crlText).toMatch(/^verify OK$/m);
    expect(before.crlText).toContain('Signature Algorithm: ecdsa-with-SHA256');
    await t.api.ok('POST', `/certificates/${serialOf(leaf)}/revoke`, { reason: 'keyCompromise' }, 200);
    const after = await crlVerdict(leaf, 'crl-after');
    expect(after.verdict).toContain('certificate revoked');
    expect(after.verdict).not.toMatch(/: OK$/m);
    expect(after.crlText).toMatch(/^verify OK$/m);
  });

  it('answers OCSP with a P-256 responder the root signed: good, then revoked', async () => {
    const leaf = await enroll('p256-ocsp');
    file('ocsp-leaf.pem', toPem(leaf));
    const good = await ocsp('ocsp-leaf.pem');
    expect(good).toContain('Response verify OK');
    expect(good).toMatch(/ocsp-leaf\.pem: good/);
    expect(good).toContain('Subject: CN=mdm-gateway OCSP Responder');
    expect(good).toContain('Public Key Algorithm: id-ecPublicKey');
    // The response and the responder certificate: both ecdsa-with-SHA256, no RSA signature anywhere.
    expect(good.match(/Signature Algorithm: ecdsa-with-SHA256/g)!.length).toBeGreaterThanOrEqual(2);
    expect(good).not.toMatch(/WithRSAEncryption/);
    await t.api.ok('POST', `/certificates/${serialOf(leaf)}/revoke`, { reason: 'superseded' }, 200);
    const revoked = await ocsp('ocsp-leaf.pem');
    expect(revoked).toContain('Response verify OK');
    expect(revoked).toMatch(/ocsp-leaf\.pem: revoked/);
    expect(revoked).toMatch(/Reason: superseded/);
  });

  it('Windows: the enrollment provisions the P-256 root; identity and SCEP certificates chain to it', async () => {
    const upn = 'p256-win@contoso.com';
    const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: 'P256 Windows' });
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: tok.token });
    expect((await sim.enroll()).fault).toBeUndefined();
    const root = new X509Certificate(t.gw.rootPem);
    expect(Buffer.from(sim.root!).equals(root.raw)).toBe(true);
    const identity = new X509Certificate(sim.identity!);
    expect(identity.checkIssued(root) && identity.verify(root.publicKey)).toBe(true);
    const deviceId = identity.subject.match(/CN=([0-9a-f-]{36})/)![1]!;
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    const s = await sim.session();
    expect(s.enrolled).toHaveLength(1);
    expect(s.enrolled[0]!.status).toBe(1);
    // The simulator checked the enrolled certificate against its trusted root store.
    expect(sim.events.filter((e) => e.startsWith('cert:'))).toEqual([`cert:${root.fingerprint.replace(/:/g, '')}`]);
  });

  it('Apple: the enrollment profile carries the P-256 root; the identity and an InstallProfile SCEP certificate chain to it', async () => {
    const upn = 'p256-ios@contoso.com';
    const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: 'P256 iOS' });
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' });
    const sim = new AppleDeviceSim(t.url, 'ios');
    await sim.enroll(tok.enrollmentUrl);
    const root = new X509Certificate(t.gw.rootPem);
    const rootSha1 = root.fingerprint.replace(/:/g, '');
    expect(new X509Certificate(sim.enrollment!.rootPem).raw.equals(root.raw)).toBe(true);
    expect(sim.trustedIssuerOf(sim.identity!.certificate)).toBe(rootSha1);
    expect((await sim.authenticate()).status).toBe(200);
    expect((await sim.tokenUpdate()).status).toBe(200);
    const deviceId = new X509Certificate(sim.identity!.certificate).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    await t.gw.devicesChanged.idle();
    expect((await sim.drain()).map((c) => c.Command.RequestType)).toContain('InstallProfile');
    expect(sim.events.filter((e) => e.startsWith('cert:'))).toContain(`cert:${rootSha1}`);
    expect(sim.events).not.toContain('cert:untrusted');
  });

  it('Android: the enrollment answer and the policy carry the P-256 root; the agent enrolls and its KeyChain chains the certificate to it', async () => {
    const upn = 'p256-android@contoso.com';
    const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: 'P256 Android' });
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
    const agent = new AndroidAgentSim(t.url);
    await agent.enroll(tok.enrollmentUrl);
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: agent.deviceId! });
    const [installed] = await agent.applyPolicy((await agent.fetchPolicy()).document!);
    const rootSha256 = createHash('sha256').update(new X509Certificate(t.gw.rootPem).raw).digest('hex');
    expect([...agent.trustedRoots.keys()]).toEqual([rootSha256]);
    expect(agent.trustedIssuerOf(installed!.certificate)).toBe(rootSha256);
    expect(hex(readCertificate(installed!.certificate).signatureAlgorithm)).toBe(ECDSA_WITH_SHA256_DER);
  });
});

describe('MDMGW_CA_KEY with an existing CA', () => {
  it('an RSA CA keeps working after a restart with MDMGW_CA_KEY=p256: same root, RSA signatures, and the log says the variable applies to new CAs', async () => {
    const dataDir = join(dir.path, 'existing-rsa');
    const first = await startTestGateway({ dataDir });
    const rsaRoot = first.gw.rootPem;
    await first.stop();

    let logged = '';
    const sink = new PassThrough();
    sink.on('data', (d) => (logged += d));
    const again = await startTestGateway({ dataDir, env: { MDMGW_CA_KEY: 'p256' }, logTo: sink });
    try {
      expect(again.gw.rootPem).toBe(rsaRoot);
      const warn = logged.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => /applies to new CAs/.test(l.msg));
      expect(warn).toMatchObject({ level: 40, msg: expect.stringMatching(/^MDMGW_CA_KEY=p256 applies to new CAs: the existing CA is RSA-3072 and keeps working as it is/) });
      const rsaProfile = await again.api.ok('POST', '/profiles', { name: 'still rsa', scope: 'device', subjectName: 'CN={{DeviceName}},O=P256' });
      const device = await again.api.ok('POST', '/devices', { name: 'rsa-still', platform: 'android' });
      await again.api.ok('POST', '/assignments', { profileId: rsaProfile.id, deviceId: device.id });
      const { challenge } = await again.api.ok('POST', '/challenges', { profileId: rsaProfile.id, deviceId: device.id });
      const r = await scepEnroll({ scepUrl: again.scepUrl, subject: 'CN=rsa-still, O=P256', challenge });
      expect(r.status).toBe('SUCCESS');
      expect(openssl(['x509', '-inform', 'DER', '-noout', '-text'], { input: r.certificate! })).toContain('Signature Algorithm: sha256WithRSAEncryption');
      expect(opensslOutput(['verify', '-CAfile', file('rsa-ca.pem', rsaRoot), file('rsa-leaf.pem', toPem(r.certificate!))])).toMatch(/rsa-leaf\.pem: OK$/m);
    } finally {
      await again.stop();
    }
  });
});
