import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateChallengeKey } from '../../src/core/challenge/signing-key.js';
import { mintChallenge } from '../../src/core/challenge/token.js';
import { resolveRequest } from '../../src/core/profile/resolve.js';
import { scepEnroll, scepPoll, generateDeviceKey, buildCsr } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { opensslCmsVerify, opensslText, opensslVerify } from '../helpers/openssl.js';

// The enrollment flow end to end over real HTTP: admin API -> challenge ->
// SCEP (our device-side client, real keys) -> CRP -> CA -> store -> CertRep.

let t: TestGateway;
let caPem: string;
let user: { id: string };
let device: { id: string; name: string };
let profile: { id: string; version: number };

const SUBJECT = (name: string) => `CN=${name}, OU=MDM, O=Contoso`;

beforeAll(async () => {
  t = await startTestGateway();
  caPem = path.join(t.dataDir, 'ca.pem');
  user = await t.api.ok('POST', '/users', { userPrincipalName: 'grace@contoso.com', email: 'grace@contoso.com', displayName: 'Grace' });
  device = await t.api.ok('POST', '/devices', { name: 'laptop-42', platform: 'windows', serialNumber: 'SN42', userId: user.id });
  profile = await t.api.ok('POST', '/profiles', {
    name: 'Wi-Fi device',
    scope: 'device',
    subjectName: 'CN={{DeviceName}},OU=MDM,O=Contoso',
    subjectAlternativeNames: [{ type: 'dns', value: '{{DeviceName}}.corp.contoso.com' }],
    extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'],
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    keySize: 2048,
    validityDays: 30,
  });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
});
afterAll(async () => {
  await t.stop();
});

const challenge = async (p = profile, d = device) => (await t.api.ok('POST', '/challenges', { profileId: p.id, deviceId: d.id })).challenge as string;
const matching = (ch: string) => ({
  scepUrl: t.scepUrl,
  challenge: ch,
  subject: SUBJECT(device.name),
  sans: [{ type: 'dns' as const, value: `${device.name}.corp.contoso.com` }],
});

describe('SCEP enrollment through the CRP', () => {
  it('issues a certificate that matches the profile, recorded before it is returned', async () => {
    const r = await scepEnroll(matching(await challenge()));
    expect(r.status).toBe('SUCCESS');
    const cert = new X509Certificate(r.certificate!);
    expect(cert.subject).toBe('CN=laptop-42\nOU=MDM\nO=Contoso');
    expect(cert.subjectAltName).toBe('DNS:laptop-42.corp.contoso.com');
    expect(await opensslVerify(r.certificate!, caPem)).toMatch(/OK$/);
    const text = await opensslText(r.certificate!);
    expect(text).toMatch(/TLS Web Client Authentication/);
    expect(text).toMatch(/CA:FALSE/);
    expect((await opensslCmsVerify(r.raw, caPem)).ok).toBe(true);

    const certs = await t.api.ok('GET', `/certificates?deviceId=${device.id}`);
    const rec = certs.find((c: { transactionId: string }) => c.transactionId === r.transactionId);
    expect(rec).toMatchObject({ profileId: profile.id, deviceId: device.id, thumbprint: cert.fingerprint.replace(/:/g, '') });
    const timeline = await t.api.ok('GET', `/enrollments/${r.transactionId}`);
    expect(timeline.status).toBe('issued');
    expect(timeline.timeline.map((e: { type: string }) => e.type)).toEqual(expect.arrayContaining(['scep.received', 'crp.passed', 'ca.issued']));
  });

  it('answers a retried PKCSReq (same transactionID, same CSR) with the same certificate', async () => {
    const first = await scepEnroll(matching(await challenge()));
    expect(first.status).toBe('SUCCESS');
    const again = await scepEnroll({ ...matching('ignored'), key: first.key, csrOverride: first.csr, transactionId: first.transactionId });
    expect(again.status).toBe('SUCCESS');
    expect(Buffer.from(again.certificate!).equals(Buffer.from(first.certificate!))).toBe(true);
  });

  it('refuses a used challenge with a different CSR (replay)', async () => {
    const ch = await challenge();
    expect((await scepEnroll(matching(ch))).status).toBe('SUCCESS');
    const replay = await scepEnroll(matching(ch));
    expect(replay).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    expect(replay.failInfoText).toMatch(/CHALLENGE_ALREADY_USED/);
    expect((await opensslCmsVerify(replay.raw, caPem)).ok).toBe(true);
    const timeline = await t.api.ok('GET', `/enrollments/${replay.transactionId}`);
    expect(timeline.timeline.some((e: { reasonCode: string }) => e.reasonCode === 'CHALLENGE_ALREADY_USED')).toBe(true);
  });

  it('refuses a subject that differs from the profile, with expected and received in the audit', async () => {
    const r = await scepEnroll({ ...matching(await challenge()), subject: SUBJECT('someone-else') });
    expect(r.failInfoText).toMatch(/SUBJECT_MISMATCH/);
    expect(r.failInfo).toBe('badRequest');
    const timeline = await t.api.ok('GET', `/enrollments/${r.transactionId}`);
    const refusal = timeline.timeline.find((e: { reasonCode: string }) => e.reasonCode === 'SUBJECT_MISMATCH');
    expect(JSON.stringify(refusal.details)).toMatch(/laptop-42/);
    expect(JSON.stringify(refusal.details)).toMatch(/someone-else/);
  });

  it('accepts the subject RDNs in another order (compared as sets)', async () => {
    const r = await scepEnroll({ ...matching(await challenge()), subject: 'O=Contoso, CN=laptop-42, OU=MDM' });
    expect(r.status).toBe('SUCCESS');
  });

  it('refuses SANs beyond the profile and missing SANs', async () => {
    const extra = await scepEnroll({ ...matching(await challenge()), sans: [...matching('').sans, { type: 'dns', value: 'evil.example.com' }] });
    expect(extra.failInfoText).toMatch(/SAN_MISMATCH/);
    const missing = await scepEnroll({ ...matching(await challenge()), sans: [] });
    expect(missing.failInfoText).toMatch(/SAN_MISSING/);
  });

  it('refuses an EKU beyond the profile', async () => {
    const r = await scepEnroll({ ...matching(await challenge()), extendedKeyUsages: ['1.3.6.1.5.5.7.3.3'] });
    expect(r.failInfoText).toMatch(/EKU_EXCEEDS_PROFILE/);
  });

  it('refuses a key shorter than the profile minimum', async () => {
    const r = await scepEnroll({ ...matching(await challenge()), keySize: 1024 });
    expect(r.failInfoText).toMatch(/KEY_TOO_SHORT/);
  });

  it('refuses a missing, malformed, tampered or expired challenge', async () => {
    const none = await scepEnroll({ ...matching(''), challenge: undefined });
    expect(none.failInfoText).toMatch(/CHALLENGE_MISSING/);
    const junk = await scepEnroll(matching('not a challenge'));
    expect(junk.failInfoText).toMatch(/CHALLENGE_MALFORMED/);
    const ch = await challenge();
    const tampered = ch.slice(0, 20) + (ch[20] === 'A' ? 'B' : 'A') + ch.slice(21);
    const bad = await scepEnroll(matching(tampered));
    expect(bad.failInfoText).toMatch(/CHALLENGE_(BAD_SIGNATURE|MALFORMED)/);

    const key = await loadOrCreateChallengeKey(t.dataDir);
    const p = await t.gw.storage.getProfile(profile.id);
    const d = await t.gw.storage.getDevice(device.id);
    const resolved = resolveRequest(p!, { kind: 'device', deviceId: device.id }, { user: null, device: d });
    if (!resolved.ok) throw new Error('resolve failed');
    const old = mintChallenge(key.privateKey, { kind: 'profile', resolved: resolved.resolved, ttlSeconds: 60, now: new Date(Date.now() - 3600_000) });
    const expired = await scepEnroll(matching(old.token));
    expect(expired).toMatchObject({ status: 'FAILURE', failInfo: 'badTime' });
    expect(expired.failInfoText).toMatch(/CHALLENGE_EXPIRED/);
  });

  it('refuses a challenge minted for another device', async () => {
    const other = await t.api.ok('POST', '/devices', { name: 'laptop-43', platform: 'windows' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: other.id });
    const r = await scepEnroll(matching(await challenge(profile, other)));
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toMatch(/SUBJECT_MISMATCH/);
  });

  it('refuses once the profile is no longer assigned', async () => {
    const d = await t.api.ok('POST', '/devices', { name: 'kiosk-1', platform: 'android' });
    const a = await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: d.id });
    const ch = await challenge(profile, d);
    await t.api.call('DELETE', `/assignments/${a.id}`);
    const r = await scepEnroll({ ...matching(ch), subject: SUBJECT('kiosk-1'), sans: [{ type: 'dns', value: 'kiosk-1.corp.contoso.com' }] });
    expect(r.failInfoText).toMatch(/PROFILE_NOT_ASSIGNED/);
  });

  it('works over GET with every cipher and digest, and refuses EC requesters with badAlg', async () => {
    for (const [cipher, digest] of [
      ['aes-128-cbc', 'sha256'],
      ['des-ede3-cbc', 'sha1'],
      ['des-cbc', 'sha1'],
      ['aes-256-cbc', 'sha512'],
    ] as const) {
      const r = await scepEnroll({ ...matching(await challenge()), cipher, digest, method: 'GET' });
      expect(r.status, `${cipher}/${digest}`).toBe('SUCCESS');
      expect((await opensslCmsVerify(r.raw, caPem)).ok).toBe(true);
    }
    // SCEP encrypts the reply to the requester's key: an EC requester gets badAlg, and nothing is issued.
    const before = (await t.api.ok('GET', `/certificates?deviceId=${device.id}`)).length;
    const ec = await scepEnroll({ ...matching(await challenge()), keyAlgorithm: 'EC', keySize: 256 });
    expect(ec).toMatchObject({ status: 'FAILURE', failInfo: 'badAlg' });
    expect(ec.failInfoText).toMatch(/UNSUPPORTED_ALGORITHM/);
    expect((await t.api.ok('GET', `/certificates?deviceId=${device.id}`)).length).toBe(before);
  });

  it('renews with a RenewalReq signed by the current certificate, without a challenge', async () => {
    const first = await scepEnroll(matching(await challenge()));
    const renewed = await scepEnroll({ ...matching(''), challenge: undefined, renewWith: { certificate: first.certificate!, key: first.key } });
    expect(renewed.status).toBe('SUCCESS');
    expect(new X509Certificate(renewed.certificate!).serialNumber).not.toBe(new X509Certificate(first.certificate!).serialNumber);
    // A revoked certificate cannot renew.
    const serial = new X509Certificate(renewed.certificate!).serialNumber.toLowerCase();
    await t.api.ok('POST', `/certificates/${serial}/revoke`, undefined, 200);
    const refused = await scepEnroll({ ...matching(''), challenge: undefined, renewWith: { certificate: renewed.certificate!, key: renewed.key } });
    expect(refused.failInfoText).toMatch(/RENEWAL_SIGNER_REVOKED/);
  });

  it('holds a profile that requires approval as PENDING until an admin approves', async () => {
    const p = await t.api.ok('POST', '/profiles', { name: 'approved', scope: 'device', subjectName: 'CN={{DeviceName}},O=Approved', requireApproval: true });
    await t.api.ok('POST', '/assignments', { profileId: p.id, deviceId: device.id });
    const pending = await scepEnroll({ scepUrl: t.scepUrl, challenge: await challenge(p), subject: 'CN=laptop-42, O=Approved' });
    expect(pending.status).toBe('PENDING');
    expect((await scepPoll(t.scepUrl, pending)).status).toBe('PENDING');
    const approved = await t.api.ok('POST', `/enrollments/${pending.transactionId}/approve`, undefined, 200);
    expect(approved.status).toBe('issued');
    const polled = await scepPoll(t.scepUrl, pending);
    expect(polled.status).toBe('SUCCESS');
    expect(new X509Certificate(polled.certificate!).subject).toBe('CN=laptop-42\nO=Approved');
    expect((await t.api.call('POST', `/enrollments/${pending.transactionId}/approve`)).status).toBe(409);
  });

  it('refuses a CSR whose self-signature is broken', async () => {
    const key = await generateDeviceKey();
    const csr = await buildCsr(key, { subject: SUBJECT(device.name), challenge: await challenge(), sans: matching('').sans });
    const broken = Uint8Array.from(csr);
    broken[broken.length - 5]! ^= 0xff;
    const r = await scepEnroll({ ...matching('x'), key, csrOverride: broken });
    expect(r.failInfoText).toMatch(/CSR_SIGNATURE_INVALID/);
  });

  it('answers garbage with HTTP 400 and an explanation, not 500', async () => {
    const res = await fetch(`${t.scepUrl}?operation=PKIOperation`, { method: 'POST', body: 'hello' });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/MESSAGE_MALFORMED|pkiMessage/);
    const caps = await (await fetch(`${t.scepUrl}?operation=GetCACaps`)).text();
    expect(caps.split('\n')).toEqual(expect.arrayContaining(['POSTPKIOperation', 'AES', 'SHA-256', 'SCEPStandard', 'Renewal']));
    expect((await fetch(`${t.url}/scep?operation=Nope`)).status).toBe(400);
  });
});
