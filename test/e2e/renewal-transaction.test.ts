import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scepEnroll, scepPoll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Regression tests for what the real clients in test/interop revealed:
//  - micromdm scepclient and certmonger derive the transactionID from the
//    key, so a same-key renewal repeats the transactionID of the enrollment
//    that issued the signing certificate (src/core/enrollment.ts).
//  - certmonger 0.79 renews with a PKCSReq signed by the current certificate
//    (src/scep/service.ts).

let t: TestGateway;
let device: { id: string };
let profile: { id: string };
const SUBJECT = 'CN=renew-1, O=Renewals';

beforeAll(async () => {
  t = await startTestGateway();
  device = await t.api.ok('POST', '/devices', { name: 'renew-1', platform: 'windows' });
  profile = await t.api.ok('POST', '/profiles', { name: 'renewals', scope: 'device', subjectName: 'CN={{DeviceName}},O=Renewals' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
});
afterAll(async () => {
  await t.stop();
});

const challenge = async () => (await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;
const serial = (der: Uint8Array) => new X509Certificate(der).serialNumber;

describe('renewals that reuse a transactionID', () => {
  it('a RenewalReq with the transactionID and CSR of the PKCSReq that issued its signer gets a NEW certificate; retrying it gets the same one', async () => {
    const first = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: await challenge() });
    expect(first.status).toBe('SUCCESS');
    const same = { scepUrl: t.scepUrl, subject: SUBJECT, key: first.key, csrOverride: first.csr, transactionId: first.transactionId };
    const renewed = await scepEnroll({ ...same, renewWith: { certificate: first.certificate!, key: first.key } });
    expect(renewed.status).toBe('SUCCESS');
    expect(renewed.transactionId).toBe(first.transactionId); // the CertRep echoes the client's transactionID
    expect(serial(renewed.certificate!)).not.toBe(serial(first.certificate!));
    const retried = await scepEnroll({ ...same, renewWith: { certificate: first.certificate!, key: first.key } });
    expect(serial(retried.certificate!)).toBe(serial(renewed.certificate!));
    // Renewing the renewed certificate, same transactionID again: another new certificate.
    const again = await scepEnroll({ ...same, renewWith: { certificate: renewed.certificate!, key: first.key } });
    expect(new Set([first, renewed, again].map((r) => serial(r.certificate!))).size).toBe(3);
    // A plain PKCSReq retry of the original transaction is still answered from it.
    const pkcsRetry = await scepEnroll(same);
    expect(serial(pkcsRetry.certificate!)).toBe(serial(first.certificate!));
    const key = `${first.transactionId}|${serial(first.certificate!).toLowerCase()}`;
    const tl = await t.api.ok('GET', `/enrollments/${encodeURIComponent(key)}`);
    expect(tl.status).toBe('issued');
    expect(tl.timeline[0]).toMatchObject({ type: 'scep.received', details: { messageType: 'RenewalReq', scepTransactionId: first.transactionId } });
  });

  it('a PKCSReq signed by a certificate we issued, for the same subject, is a renewal (no challenge needed)', async () => {
    const first = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: await challenge() });
    const legacy = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, messageType: 'PKCSReq', renewWith: { certificate: first.certificate!, key: first.key } });
    expect(legacy.status).toBe('SUCCESS');
    expect(serial(legacy.certificate!)).not.toBe(serial(first.certificate!));
    const tl = await t.api.ok('GET', `/enrollments/${legacy.transactionId}`);
    expect(tl.timeline[0].details.messageType).toBe('RenewalReq');
    // ... and a revoked signer cannot renew that way either.
    await t.api.ok('POST', `/certificates/${serial(legacy.certificate!).toLowerCase()}/revoke`, undefined, 200);
    const revoked = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, messageType: 'PKCSReq', renewWith: { certificate: legacy.certificate!, key: legacy.key } });
    expect(revoked.failInfoText).toMatch(/RENEWAL_SIGNER_REVOKED/);
  });

  it('a PKCSReq signed by one of our certificates for ANOTHER subject stays a PKCSReq and needs a challenge', async () => {
    const first = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: await challenge() });
    const other = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=someone-else, O=Renewals', messageType: 'PKCSReq', renewWith: { certificate: first.certificate!, key: first.key } });
    expect(other.status).toBe('FAILURE');
    expect(other.failInfoText).toMatch(/CHALLENGE_MISSING/);
  });

  it('a PENDING renewal that reused the transactionID is found by the poll signed with the certificate being renewed', async () => {
    const p = await t.api.ok('POST', '/profiles', { name: 'approved renewals', scope: 'device', subjectName: 'CN={{DeviceName}},O=Approved', requireApproval: true });
    await t.api.ok('POST', '/assignments', { profileId: p.id, deviceId: device.id });
    const ch = (await t.api.ok('POST', '/challenges', { profileId: p.id, deviceId: device.id })).challenge as string;
    const subject = 'CN=renew-1, O=Approved';
    const first = await scepEnroll({ scepUrl: t.scepUrl, subject, challenge: ch });
    expect(first.status).toBe('PENDING');
    await t.api.ok('POST', `/enrollments/${first.transactionId}/approve`, undefined, 200);
    const firstPoll = await scepPoll(t.scepUrl, first);
    expect(firstPoll.status, JSON.stringify(firstPoll.failInfoText ?? null)).toBe("SUCCESS");
    const cert1 = firstPoll.certificate!;
    expect(cert1).toBeDefined();

    const renewal = await scepEnroll({ scepUrl: t.scepUrl, subject, key: first.key, csrOverride: first.csr, transactionId: first.transactionId, renewWith: { certificate: cert1, key: first.key } });
    expect(renewal.status).toBe('PENDING');
    const key = `${first.transactionId}|${serial(cert1).toLowerCase()}`;
    expect((await scepPoll(t.scepUrl, renewal)).status).toBe('PENDING');
    await t.api.ok('POST', `/enrollments/${encodeURIComponent(key)}/approve`, undefined, 200);
    const polled = await scepPoll(t.scepUrl, renewal);
    expect(polled.status).toBe('SUCCESS');
    expect(serial(polled.certificate!)).not.toBe(serial(cert1));
    // The original transaction, polled with its own self-signed signer, still answers with the first certificate.
    expect(serial((await scepPoll(t.scepUrl, first)).certificate!)).toBe(serial(cert1));
  });

  it('a PKCSReq with a usable challenge, signed by one of our certificates for the same subject, follows its challenge', async () => {
    // Two profiles with the same subject: the VPN challenge must get a VPN certificate,
    // even when the request is signed with the Wi-Fi certificate.
    const vpn = await t.api.ok('POST', '/profiles', { name: 'vpn same subject', scope: 'device', subjectName: 'CN={{DeviceName}},O=Renewals', validityDays: 7 });
    await t.api.ok('POST', '/assignments', { profileId: vpn.id, deviceId: device.id });
    const wifi = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: await challenge() });
    const vpnChallenge = (await t.api.ok('POST', '/challenges', { profileId: vpn.id, deviceId: device.id })).challenge as string;
    const r = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: vpnChallenge, messageType: 'PKCSReq', renewWith: { certificate: wifi.certificate!, key: wifi.key } });
    expect(r.status).toBe('SUCCESS');
    const certs = await t.api.ok('GET', `/certificates?deviceId=${device.id}&profileId=${vpn.id}`);
    expect(certs.map((c: { serialNumber: string }) => c.serialNumber)).toContain(serial(r.certificate!).toLowerCase());
    // The challenge was spent by that enrollment.
    const replay = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: vpnChallenge });
    expect(replay.failInfoText).toMatch(/CHALLENGE_ALREADY_USED/);
  });

  it('a device whose certificate was revoked re-enrolls with a fresh challenge even when it signs with the revoked certificate', async () => {
    const first = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: await challenge() });
    await t.api.ok('POST', `/certificates/${serial(first.certificate!).toLowerCase()}/revoke`, undefined, 200);
    const again = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: await challenge(), messageType: 'PKCSReq', renewWith: { certificate: first.certificate!, key: first.key } });
    expect(again.status).toBe('SUCCESS');
    // Without a usable challenge, the revoked signer cannot renew.
    const spent = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: 'not-a-challenge', messageType: 'PKCSReq', renewWith: { certificate: first.certificate!, key: first.key } });
    expect(spent.failInfoText).toMatch(/RENEWAL_SIGNER_REVOKED/);
  });

  it('refuses a transactionID that is not a short PrintableString', async () => {
    const r = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: await challenge(), transactionId: 'x'.repeat(129) });
    expect(r.failInfoText).toMatch(/MESSAGE_MALFORMED/);
    const pipe = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: await challenge(), transactionId: 'abc|def' });
    expect(pipe.failInfoText).toMatch(/MESSAGE_MALFORMED/);
  });
});
