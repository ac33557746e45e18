import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceAdapter } from '../../src/adapters/reference/index.js';
import { toPem } from '../../src/pem.js';
import { buildCsr, generateDeviceKey, scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// The adapter contract end to end with the tiny reference adapter: device
// identity via SCEP, an authenticated check-in that returns rendered
// deliveries with fresh challenges, a real SCEP enrollment, and a report.

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [referenceAdapter] });
});
afterAll(async () => {
  await t.stop();
});

const certHeader = (der: Uint8Array) => ({ 'X-Client-Cert': encodeURIComponent(toPem(der)) });

async function enrollIdentity(deviceId: string) {
  const id = await t.api.ok('POST', `/devices/${deviceId}/identity-challenge`);
  expect(id.subject).toContain(deviceId);
  const r = await scepEnroll({ scepUrl: id.scepUrl, challenge: id.challenge, subject: id.subject });
  expect(r.status).toBe('SUCCESS');
  return r.certificate!;
}

describe('reference adapter through the contract', () => {
  it('delivers assigned profiles to an authenticated device, which enrolls and reports', async () => {
    const user = await t.api.ok('POST', '/users', { userPrincipalName: 'lin@contoso.com', email: 'lin@contoso.com', displayName: 'Lin' });
    const device = await t.api.ok('POST', '/devices', { name: 'phone-9', platform: 'android', userId: user.id });
    const group = await t.api.ok('POST', '/groups', { name: 'staff' });
    await t.api.ok('POST', `/groups/${group.id}/members`, { userId: user.id });
    const profile = await t.api.ok('POST', '/profiles', {
      name: 'user wifi',
      scope: 'user',
      subjectName: 'CN={{UserPrincipalName}},O=Contoso',
      subjectAlternativeNames: [{ type: 'upn', value: '{{UserPrincipalName}}' }, { type: 'email', value: '{{EmailAddress}}' }],
      scepServerUrls: [t.scepUrl],
    });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, groupId: group.id });
    // A profile whose template cannot be filled for this device is reported, not delivered.
    const broken = await t.api.ok('POST', '/profiles', { name: 'needs serial', scope: 'device', subjectName: 'CN={{SerialNumber}}' });
    await t.api.ok('POST', '/assignments', { profileId: broken.id, deviceId: device.id });

    const identity = await enrollIdentity(device.id);
    expect((await t.api.ok('GET', `/certificates?deviceId=${device.id}`)).some((c: { kind: string }) => c.kind === 'identity')).toBe(true);

    const res = await fetch(`${t.url}/reference/v1/payload`, { headers: certHeader(identity) });
    expect(res.status).toBe(200);
    const payload = (await res.json()) as any;
    expect(payload.deviceId).toBe(device.id);
    expect(payload.items).toHaveLength(1);
    expect(payload.errors).toEqual([expect.objectContaining({ profileId: broken.id, code: 'ATTRIBUTE_MISSING' })]);
    const item = payload.items[0];
    expect(item.subject).toEqual([
      { type: 'CN', value: 'lin@contoso.com' },
      { type: 'O', value: 'Contoso' },
    ]);

    const enrolled = await scepEnroll({
      scepUrl: item.scepUrl,
      challenge: item.challenge,
      subject: 'CN=lin@contoso.com, O=Contoso',
      sans: item.subjectAlternativeNames,
    });
    expect(enrolled.status).toBe('SUCCESS');
    const thumbprint = new X509Certificate(enrolled.certificate!).fingerprint.replace(/:/g, '');
    const rep = await fetch(`${t.url}/reference/v1/report`, {
      method: 'POST',
      headers: { ...certHeader(identity), 'content-type': 'application/json' },
      body: JSON.stringify({ profileId: profile.id, profileVersion: 1, state: 'installed', thumbprint }),
    });
    expect(rep.status).toBe(204);
    const certs = await t.api.ok('GET', `/certificates?userId=${user.id}`);
    expect(certs.map((c: { thumbprint: string }) => c.thumbprint)).toContain(thumbprint);
    const statuses = await t.api.ok('GET', `/devices/${device.id}/deliveries`);
    const serial = new X509Certificate(enrolled.certificate!).serialNumber.toLowerCase();
    expect(statuses).toEqual([expect.objectContaining({ profileId: profile.id, state: 'installed', thumbprint, certificateSerial: serial })]);
    // A thumbprint we never issued is kept but not matched.
    await fetch(`${t.url}/reference/v1/report`, {
      method: 'POST',
      headers: { ...certHeader(identity), 'content-type': 'application/json' },
      body: JSON.stringify({ profileId: profile.id, profileVersion: 1, state: 'failed', errorCode: '0x80070005', thumbprint: 'AB'.repeat(20) }),
    });
    const after = await t.api.ok('GET', `/devices/${device.id}/deliveries`);
    expect(after[0]).toMatchObject({ state: 'failed', errorCode: '0x80070005', certificateSerial: null });
    expect(after[0].detail).toMatch(/matches no certificate/);
  });

  it('refuses check-ins without a certificate, with a foreign one, and with a revoked one', async () => {
    expect((await fetch(`${t.url}/reference/v1/payload`)).status).toBe(401);

    // A certificate our CA issued for a profile (not an identity) does not authenticate.
    const device = await t.api.ok('POST', '/devices', { name: 'tablet-3', platform: 'ios' });
    const identity = await enrollIdentity(device.id);
    const ok = await fetch(`${t.url}/reference/v1/payload`, { headers: certHeader(identity) });
    expect(ok.status).toBe(200);

    const foreign = await fetch(`${t.url}/reference/v1/payload`, { headers: certHeader(t.gw.ra.certificate) });
    expect(foreign.status).toBe(401);
    expect(((await foreign.json()) as any).error).toMatch(/not (in the issuance record|issued by)/);

    const serial = new X509Certificate(identity).serialNumber.toLowerCase();
    await t.api.ok('POST', `/certificates/${serial}/revoke`, undefined, 200);
    const revoked = await fetch(`${t.url}/reference/v1/payload`, { headers: certHeader(identity) });
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as any).error).toMatch(/revoked/);
  });

  it('enrolls with a one-time enrollment token: once, for its platform', async () => {
    const user = await t.api.ok('POST', '/users', { userPrincipalName: 'kim@contoso.com', email: 'kim@contoso.com', displayName: 'Kim' });
    const created = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
    expect(created.enrollmentUrl).toBe(`${t.url}/reference/v1/enroll?token=${created.token}`);
    expect(new Date(created.expiresAt).getTime()).toBeGreaterThan(Date.now());
    expect(created.token).toMatch(/^[A-Z2-7]{32}$/);
    expect(JSON.stringify(await t.api.ok('GET', '/audit?type=admin.enrollment-token.created'))).not.toContain(created.token);

    const key = await generateDeviceKey();
    const csr = Buffer.from(await buildCsr(key, { subject: 'CN=anything' })).toString('base64');
    const enroll = (token: string, platform = 'android') =>
      fetch(`${t.url}/reference/v1/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, platform, name: 'pixel-8', csr }) });

    expect((await enroll(created.token, 'ios')).status).toBe(401);
    const ok = await enroll(created.token);
    expect(ok.status).toBe(201);
    const body = (await ok.json()) as { deviceId: string; certificate: string };
    const cert = new X509Certificate(Buffer.from(body.certificate, 'base64'));
    expect(cert.subject).toContain(body.deviceId);
    expect((await t.api.ok('GET', `/devices/${body.deviceId}`)).userId).toBe(user.id);
    // The identity certificate authenticates check-ins.
    expect((await fetch(`${t.url}/reference/v1/payload`, { headers: certHeader(cert.raw) })).status).toBe(200);

    const again = await enroll(created.token);
    expect(again.status).toBe(401);
    expect(((await again.json()) as any).error).toMatch(/used/);
    expect((await enroll('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status).toBe(401);
    expect((await t.api.call('POST', '/enrollment-tokens', { userId: user.id, platform: 'blackberry' })).status).toBe(400);
    const dev = await t.api.ok('POST', '/devices', { name: 'win-1', platform: 'windows' });
    expect((await t.api.call('POST', '/enrollment-tokens', { deviceId: dev.id, platform: 'android' })).status).toBe(400);
  });
});

describe('admin values and device-reported values through the admin API', () => {
  async function enrolledAs(name: string): Promise<string> {
    const user = await t.api.ok('POST', '/users', { userPrincipalName: `r${Date.now()}${Math.random()}@contoso.com`, email: 'r@contoso.com', displayName: 'R' });
    const { token } = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
    const csr = Buffer.from(await buildCsr(await generateDeviceKey(), { subject: 'CN=x' })).toString('base64');
    const res = await fetch(`${t.url}/reference/v1/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, platform: 'android', name, csr }) });
    expect(res.status).toBe(201);
    return ((await res.json()) as { deviceId: string }).deviceId;
  }

  it('an admin name equal to a reported one flags the reporter; PATCH name: null clears the admin name', async () => {
    const reporter = await enrolledAs('Front Desk Tablet');
    expect(await t.api.ok('GET', `/devices/${reporter}`)).toMatchObject({ name: null, reported: { name: 'Front Desk Tablet', conflicts: [] } });
    const profile = await t.api.ok('POST', '/profiles', { name: 'n', scope: 'device', subjectName: 'CN={{DeviceName}}' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: reporter });
    expect((await t.api.call('POST', '/challenges', { profileId: profile.id, deviceId: reporter })).status).toBe(201);

    // The admin gives another device that name: the reporter's claim is flagged and no longer certifiable.
    const named = await t.api.ok('POST', '/devices', { name: 'front desk tablet', platform: 'android' });
    expect(await t.api.ok('GET', `/devices/${reporter}`)).toMatchObject({ reported: { name: 'Front Desk Tablet', conflicts: ['name'] } });
    const audit = await t.api.ok('GET', '/audit?type=device.reported.conflict');
    expect(audit.at(-1)).toMatchObject({ actor: 'admin', reasonCode: 'REPORTED_VALUE_CONFLICT', details: { deviceId: reporter, field: 'name', otherDevices: [named.id] } });
    const refused = await t.api.call('POST', '/challenges', { profileId: profile.id, deviceId: reporter });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatch(/\{\{DeviceName\}\}.*another device's/);

    // Admin names win; clearing one falls back to the (unflagged) report.
    expect(await t.api.ok('PATCH', `/devices/${reporter}`, { name: 'desk-2' })).toMatchObject({ name: 'desk-2' });
    expect((await t.api.call('POST', '/challenges', { profileId: profile.id, deviceId: reporter })).status).toBe(201);
    const other = await enrolledAs('Lobby Kiosk');
    expect(await t.api.ok('PATCH', `/devices/${other}`, { name: null })).toMatchObject({ name: null, reported: { name: 'Lobby Kiosk' } });
    expect((await t.api.call('PATCH', `/devices/${other}`, { name: '' })).status).toBe(400);
  });
});
