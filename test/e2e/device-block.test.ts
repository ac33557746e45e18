import { X509Certificate } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../src/adapters/android/index.js';
import { createAppleAdapter } from '../../src/adapters/apple/index.js';
import { referenceAdapter } from '../../src/adapters/reference/index.js';
import { windowsAdapter } from '../../src/adapters/windows/index.js';
import { toPem } from '../../src/pem.js';
import { buildCsr, generateDeviceKey, scepEnroll, type EnrollResult } from '../../src/sim/scep-client.js';
import { AndroidAgentSim, PIXEL_8 } from '../../src/sim/android.js';
import { FakeApns, pushCertificate } from '../../src/sim/fake-apns.js';
import { AppleDeviceSim } from '../../src/sim/apple.js';
import { WindowsSimulator } from '../../src/sim/windows.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Security issue #15, S5: "there is no call that blocks a device as a whole".
// POST /api/v1/devices/:id/block revokes the device's certificates, every
// device route of every platform answers 403, and no certificate of any kind
// is issued to it (SCEP, direct identity issuance) until it is unblocked.
// Also: a request with two proxy client-certificate headers is refused (400).

const TOPIC = 'com.apple.mgmt.External.0b10c0ed-0000-4000-8000-000000000001';
let t: TestGateway;
let apns: FakeApns;

beforeAll(async () => {
  apns = await FakeApns.start();
  t = await startTestGateway({ adapters: [windowsAdapter, androidAdapter, createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem }), referenceAdapter] });
  const push = await pushCertificate(apns.ca, TOPIC);
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
});
afterAll(async () => {
  await t?.stop();
  await apns?.stop();
});

let n = 0;
const newUser = async () => {
  const upn = `block${++n}@contoso.com`;
  return { upn, user: await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Block ${n}` }) };
};
const certHeader = (der: Uint8Array) => ({ 'X-Client-Cert': encodeURIComponent(toPem(der)) });
const serialOf = (der: Uint8Array) => new X509Certificate(der).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
const deviceIdOf = (der: Uint8Array) => new X509Certificate(der).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
const block = (id: string, body?: unknown) => t.api.call('POST', `/devices/${id}/block`, body);
const unblock = (id: string) => t.api.call('POST', `/devices/${id}/unblock`);

async function identityOf(deviceId: string): Promise<EnrollResult> {
  const id = await t.api.ok('POST', `/devices/${deviceId}/identity-challenge`);
  return scepEnroll({ scepUrl: id.scepUrl, challenge: id.challenge, subject: id.subject });
}

describe('blocking a device', () => {
  it('revokes its certificates, shows the state, refuses its check-ins (403) and every new certificate until unblocked', async () => {
    const device = await t.api.ok('POST', '/devices', { name: 'blocked-1', platform: 'android' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'block wifi', scope: 'device', subjectName: 'CN={{DeviceName}},O=Blocks' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const identity = await identityOf(device.id);
    expect(identity.status).toBe('SUCCESS');
    const wifi = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=blocked-1, O=Blocks', challenge: (await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge });
    expect(wifi.status).toBe('SUCCESS');
    // Minted before the block, used after it.
    const early = (await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;
    const pendingIdentity = await t.api.ok('POST', `/devices/${device.id}/identity-challenge`);
    const tok = await t.api.ok('POST', '/enrollment-tokens', { deviceId: device.id, platform: 'android' });
    const checkIn = (der: Uint8Array) => fetch(`${t.url}/reference/v1/payload`, { headers: certHeader(der) });
    expect((await checkIn(identity.certificate!)).status).toBe(200);
    expect((await t.api.ok('GET', `/devices/${device.id}`)).blockedAt).toBeNull();

    const r = await block(device.id, { reason: 'keyCompromise' });
    expect(r.status).toBe(200);
    expect(r.body.device).toMatchObject({ id: device.id, blockedAt: expect.any(String) });
    expect(r.body.revoked).toEqual([serialOf(identity.certificate!), serialOf(wifi.certificate!)]);
    expect(await t.api.ok('GET', `/devices/${device.id}`)).toMatchObject({ blockedAt: r.body.device.blockedAt });
    for (const der of [identity.certificate!, wifi.certificate!]) {
      expect(await t.api.ok('GET', `/certificates/${serialOf(der)}`)).toMatchObject({ revokedAt: r.body.device.blockedAt, revocationReason: 'keyCompromise' });
    }
    const audit = await t.api.ok('GET', '/audit?type=admin.device.blocked');
    expect(audit.at(-1)).toMatchObject({ actor: 'admin', details: { deviceId: device.id, reason: 'keyCompromise', revoked: r.body.revoked } });

    const refused = await checkIn(identity.certificate!);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toMatch(/blocked/);
    expect((await fetch(`${t.url}/reference/v1/report`, { method: 'POST', headers: { ...certHeader(identity.certificate!), 'content-type': 'application/json' }, body: '{}' })).status).toBe(403);

    // No certificate of any kind: a profile challenge, an identity challenge, a renewal.
    const viaProfile = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=blocked-1, O=Blocks', challenge: early });
    expect(viaProfile.failInfoText).toMatch(/DEVICE_BLOCKED/);
    const viaIdentity = await scepEnroll({ scepUrl: pendingIdentity.scepUrl, challenge: pendingIdentity.challenge, subject: pendingIdentity.subject });
    expect(viaIdentity.failInfoText).toMatch(/DEVICE_BLOCKED/);
    const viaRenewal = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=blocked-1, O=Blocks', renewWith: { certificate: wifi.certificate!, key: wifi.key } });
    expect(viaRenewal.status).toBe('FAILURE');
    expect((await t.api.ok('GET', `/certificates?deviceId=${device.id}`)).length).toBe(2);
    const timeline = await t.api.ok('GET', `/enrollments/${viaIdentity.transactionId}`);
    expect(timeline.timeline.at(-1)).toMatchObject({ type: 'crp.refused', reasonCode: 'DEVICE_BLOCKED' });

    // Direct identity issuance (the enrollment-protocol path, no CRP row) refuses too: the token is refused before it is spent.
    const key = await generateDeviceKey();
    const csr = await buildCsr(key, { subject: `CN=${device.id}` });
    const direct = await fetch(`${t.url}/reference/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: tok.token, platform: 'android', name: 'x', csr: Buffer.from(csr).toString('base64') }),
    });
    // Core's token redemption refuses the blocked device before the token is spent or issuance is reached.
    expect(direct.status).toBe(403);
    expect(((await direct.json()) as { reason: string }).reason).toBe('device-blocked');
    expect((await t.api.ok('GET', `/certificates?deviceId=${device.id}`)).length).toBe(2);

    // The admin is told up front rather than handed a challenge that can only be refused.
    const noChallenge = await t.api.call('POST', `/devices/${device.id}/identity-challenge`);
    expect(noChallenge.status).toBe(409);
    expect(noChallenge.body.error).toMatch(/blocked/);
    expect((await t.api.call('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).status).toBe(409);

    expect((await block(device.id)).status).toBe(409);
    const u = await unblock(device.id);
    expect(u.status).toBe(200);
    expect(u.body.device.blockedAt).toBeNull();
    expect((await t.api.ok('GET', '/audit?type=admin.device.unblocked')).at(-1).details).toEqual({ deviceId: device.id });
    expect((await unblock(device.id)).status).toBe(409);
    // Unblocking does not bring the revoked certificates back: the device enrolls again.
    expect((await checkIn(identity.certificate!)).status).toBe(401);
    const again = await identityOf(device.id);
    expect(again.status).toBe('SUCCESS');
    expect((await checkIn(again.certificate!)).status).toBe(200);
  });

  it('refuses unknown devices (404) and reasons that are not RFC 5280 end-entity reasons (400), writing nothing', async () => {
    expect((await block('0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b')).status).toBe(404);
    expect((await unblock('0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b')).status).toBe(404);
    const device = await t.api.ok('POST', '/devices', { name: 'blocked-2', platform: 'android' });
    const identity = await identityOf(device.id);
    const bad = await block(device.id, { reason: 'cACompromise' });
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0].path).toBe('reason');
    expect((await t.api.ok('GET', `/devices/${device.id}`)).blockedAt).toBeNull();
    expect((await t.api.ok('GET', `/certificates/${serialOf(identity.certificate!)}`)).revokedAt).toBeNull();
    // Without a reason: cessationOfOperation.
    expect((await block(device.id)).status).toBe(200);
    expect((await t.api.ok('GET', `/certificates/${serialOf(identity.certificate!)}`)).revocationReason).toBe('cessationOfOperation');
  });

  it('Android: the agent policy and status routes answer 403', async () => {
    const { user } = await newUser();
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
    const agent = new AndroidAgentSim(t.url);
    await agent.enroll(tok.enrollmentUrl);
    expect((await agent.fetchPolicy()).status).toBe(200);
    expect((await block(agent.deviceId!)).status).toBe(200);
    const policy = await agent.fetchPolicy();
    expect(policy.status).toBe(403);
    expect((policy.body as { error: string }).error).toMatch(/blocked/);
    expect((await agent.postStatus({ results: [] })).status).toBe(403);
  });

  it('Windows: OMA-DM answers 403, and re-enrolling the blocked device gets no identity certificate', async () => {
    const { user, upn } = await newUser();
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: tok.token });
    expect((await sim.enroll()).fault).toBeUndefined();
    await sim.session();
    const deviceId = deviceIdOf(sim.identity!);
    const again = await t.api.ok('POST', '/enrollment-tokens', { deviceId, platform: 'windows' });
    expect((await block(deviceId)).status).toBe(200);
    const r = await sim.post(sim.message('99', 1, ''));
    expect(r.status).toBe(403);
    expect(r.text).toMatch(/blocked/);

    const sim2 = new WindowsSimulator({ baseUrl: t.url, upn, password: again.token });
    const refused = await sim2.enroll();
    expect(refused.fault?.reason).toMatch(/DEVICE_BLOCKED/);
    expect((await t.api.ok('GET', `/certificates?deviceId=${deviceId}`)).every((c: { revokedAt: string | null }) => c.revokedAt !== null)).toBe(true);
  });

  it('Apple: check-in and connect signed with the identity (Mdm-Signature) answer 403', async () => {
    const { user } = await newUser();
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' });
    const sim = new AppleDeviceSim(t.url);
    await sim.enroll(tok.enrollmentUrl);
    expect((await sim.authenticate()).status).toBe(200);
    expect((await block(deviceIdOf(sim.identity!.certificate))).status).toBe(200);
    const checkin = await sim.tokenUpdate();
    expect(checkin.status).toBe(403);
    expect(((await checkin.json()) as { error: string }).error).toMatch(/blocked/);
    const connect = await sim.put(sim.enrollment!.mdm.ServerURL, { UDID: sim.udid, Status: 'Idle' });
    expect(connect.status).toBe(403);
  });
});

// A token the admin made for a device, and the device is blocked afterwards:
// each platform refuses it BEFORE spending it (so it works again once the
// device is unblocked), rather than spending it and handing out an identity
// challenge the issuance can only refuse. A new token for a blocked device is
// refused up front (409).
describe('an enrollment token for a blocked device', () => {
  async function blockedDeviceWithToken(platform: 'windows' | 'ios' | 'android') {
    const device = await t.api.ok('POST', '/devices', { name: `blocked-token-${platform}-${++n}`, platform });
    const tok = await t.api.ok('POST', '/enrollment-tokens', { deviceId: device.id, platform });
    expect((await block(device.id)).status).toBe(200);
    const late = await t.api.call('POST', '/enrollment-tokens', { deviceId: device.id, platform });
    expect(late.status).toBe(409);
    expect(late.body.error).toMatch(/blocked/);
    return { device, tok };
  }
  const refusals = async (type: string) => (await t.api.ok('GET', `/audit?type=${type}`)).filter((e: { reasonCode: string | null }) => e.reasonCode === 'DEVICE_BLOCKED').length;

  it('Windows: a SOAP fault naming DEVICE_BLOCKED, the token unspent', async () => {
    const { device, tok } = await blockedDeviceWithToken('windows');
    const before = await refusals('windows.enrollment.refused');
    const sim = new WindowsSimulator({ baseUrl: t.url, upn: 'anyone@contoso.com', password: tok.token });
    const refused = await sim.enroll();
    expect(refused.fault?.reason).toMatch(/DEVICE_BLOCKED/);
    expect(await refusals('windows.enrollment.refused')).toBe(before + 1);
    expect(await t.api.ok('GET', `/certificates?deviceId=${device.id}`)).toEqual([]);
    expect((await unblock(device.id)).status).toBe(200);
    const sim2 = new WindowsSimulator({ baseUrl: t.url, upn: 'anyone@contoso.com', password: tok.token });
    expect((await sim2.enroll()).fault).toBeUndefined();
    expect(deviceIdOf(sim2.identity!)).toBe(device.id);
  });

  it('Apple: /mdm/enroll answers 403 DEVICE_BLOCKED, no profile, the token unspent', async () => {
    const { device, tok } = await blockedDeviceWithToken('ios');
    const before = await refusals('apple.enroll.refused');
    const r = await fetch(tok.enrollmentUrl);
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ reason: 'DEVICE_BLOCKED', error: expect.stringMatching(/blocked/) });
    expect(await refusals('apple.enroll.refused')).toBe(before + 1);
    expect((await t.api.ok('GET', '/audit?type=identity.challenge.minted')).some((e: { details: { deviceId: string } }) => e.details.deviceId === device.id)).toBe(false);
    expect((await unblock(device.id)).status).toBe(200);
    const sim = new AppleDeviceSim(t.url);
    await sim.enroll(tok.enrollmentUrl);
    expect(deviceIdOf(sim.identity!.certificate)).toBe(device.id);
  });

  it('Android: /android/v1/enroll answers 403 DEVICE_BLOCKED, no state, the token unspent', async () => {
    const { device, tok } = await blockedDeviceWithToken('android');
    const before = await refusals('android.enroll.refused');
    const agent = new AndroidAgentSim(t.url);
    const r = await agent.postEnroll(tok.enrollmentUrl, PIXEL_8, { supportedSchemaVersions: [1] });
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ reason: 'DEVICE_BLOCKED' });
    expect(await refusals('android.enroll.refused')).toBe(before + 1);
    expect((await t.api.ok('GET', `/devices/${device.id}`)).reported?.serialNumber ?? null).toBeNull();
    expect((await unblock(device.id)).status).toBe(200);
    const answer = await agent.enroll(tok.enrollmentUrl);
    expect(answer.deviceId).toBe(device.id);
  });
});

describe('the trusted proxy certificate header', () => {
  /** Two separate header lines (fetch would merge them into one). */
  function getWithHeaders(path: string, values: string[]): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(`${t.url}${path}`, { headers: { 'X-Client-Cert': values } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('refuses a request with more than one client-certificate header instead of letting the first win', async () => {
    const victim = await t.api.ok('POST', '/devices', { name: 'victim', platform: 'android' });
    const attacker = await t.api.ok('POST', '/devices', { name: 'attacker', platform: 'android' });
    const victimCert = (await identityOf(victim.id)).certificate!; // certificates are public: anyone may hold a copy
    const attackerCert = (await identityOf(attacker.id)).certificate!;
    const one = await getWithHeaders('/reference/v1/payload', [encodeURIComponent(toPem(attackerCert))]);
    expect(one.status).toBe(200);
    expect(JSON.parse(one.body).deviceId).toBe(attacker.id);

    // A proxy that appends its verified header after the client's own.
    const two = await getWithHeaders('/reference/v1/payload', [encodeURIComponent(toPem(victimCert)), encodeURIComponent(toPem(attackerCert))]);
    expect(two.status).toBe(400);
    expect(JSON.parse(two.body).error).toMatch(/more than one X-Client-Cert header/);
    // Two certificates in one header value are just as ambiguous.
    const joined = await getWithHeaders('/reference/v1/payload', [encodeURIComponent(toPem(victimCert) + toPem(attackerCert))]);
    expect(joined.status).toBe(400);
    expect(JSON.parse(joined.body).error).toMatch(/more than one certificate/);
  });

  it('keeps a decoded header by its exact text only: the same value again is the same device, a changed one is decoded afresh', async () => {
    const a = await t.api.ok('POST', '/devices', { name: 'kept-header-a', platform: 'android' });
    const b = await t.api.ok('POST', '/devices', { name: 'kept-header-b', platform: 'android' });
    const pemA = toPem((await identityOf(a.id)).certificate!);
    const pemB = toPem((await identityOf(b.id)).certificate!);
    const as = async (value: string) => getWithHeaders('/reference/v1/payload', [value]);
    for (let i = 0; i < 2; i++) expect(JSON.parse((await as(encodeURIComponent(pemA))).body).deviceId).toBe(a.id);
    // Another spelling of the same certificate (the PEM's line breaks as spaces) decodes to the same device.
    expect(JSON.parse((await as(encodeURIComponent(pemA.replace(/\n/g, ' ')))).body).deviceId).toBe(a.id);
    expect(JSON.parse((await as(encodeURIComponent(pemB))).body).deviceId).toBe(b.id);
    // One base64 character changed after the exact value was kept: not the kept certificate.
    const body = pemA.split('\n');
    body[3] = body[3]!.slice(0, 10) + (body[3]![10] === 'A' ? 'B' : 'A') + body[3]!.slice(11);
    expect((await as(encodeURIComponent(body.join('\n')))).status).toBe(401);
    // A kept value followed by a second certificate is a different value: refused as ambiguous.
    const joined = await as(encodeURIComponent(pemA + pemB));
    expect(joined.status).toBe(400);
    expect(JSON.parse(joined.body).error).toMatch(/more than one certificate/);
  });
});

// Architecture issue #8: enrollment-token redemption is core's (AdapterServices.redeemEnrollmentToken),
// which checks the token's device is not blocked before it spends the token. A refused enrollment
// burns nothing: once the admin unblocks the device, the very same token enrolls it.

