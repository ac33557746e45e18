import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceAdapter } from '../../src/adapters/reference/index.js';
import { toPem } from '../../src/pem.js';
import { scepEnroll, type EnrollResult } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Lifecycle issue #9, item 2: revocation triggers driven by the admin API.
// "after DELETE /assignments/:id and DELETE /profiles/:id the issued
// certificate's revokedAt stayed null; devices and users cannot be retired or
// deleted". Real gateway, real SQLite, real SCEP enrollments.

const HOUR = 3_600_000;
let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({ adapters: [referenceAdapter] });
});
afterAll(async () => {
  await t?.stop();
});

let n = 0;
const serialOf = (der: Uint8Array) => new X509Certificate(der).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
const certHeader = (der: Uint8Array) => ({ 'X-Client-Cert': encodeURIComponent(toPem(der)) });
const cert = (tg: TestGateway, der: Uint8Array) => tg.api.ok('GET', `/certificates/${serialOf(der)}`);
const lastAudit = async (tg: TestGateway, type: string) => (await tg.api.ok('GET', `/audit?type=${type}`)).at(-1);

async function newUser(tg = t) {
  const upn = `life${++n}@contoso.com`;
  return tg.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Life ${n}` });
}

async function identityOf(deviceId: string, tg = t): Promise<EnrollResult> {
  const id = await tg.api.ok('POST', `/devices/${deviceId}/identity-challenge`);
  const r = await scepEnroll({ scepUrl: id.scepUrl, challenge: id.challenge, subject: id.subject });
  expect(r.status).toBe('SUCCESS');
  return r;
}

/** A real SCEP enrollment for the profile on the device, with a challenge from the admin API. */
async function profileCert(profileId: string, deviceId: string, subject: string, tg = t): Promise<EnrollResult> {
  const ch = await tg.api.ok('POST', '/challenges', { profileId, deviceId });
  const r = await scepEnroll({ scepUrl: tg.scepUrl, challenge: ch.challenge, subject });
  expect(r.status).toBe('SUCCESS');
  return r;
}

describe('retiring and deleting a device', () => {
  it('retire revokes profile certificates at once (cessationOfOperation), refuses new certificates while retiring, retires at the next check-in with nothing to remove; 409 while retiring and once retired', async () => {
    const device = await t.api.ok('POST', '/devices', { name: `retire-${++n}`, platform: 'android' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'retire wifi', scope: 'device', subjectName: 'CN={{DeviceName}},O=Retire' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const identity = await identityOf(device.id);
    const wifi = await profileCert(profile.id, device.id, `CN=${device.name}, O=Retire`);
    const early = (await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;
    const checkIn = () => fetch(`${t.url}/reference/v1/payload`, { headers: certHeader(identity.certificate!) });
    expect((await checkIn()).status).toBe(200);

    const r = await t.api.call('POST', `/devices/${device.id}/retire`, {});
    expect(r.status).toBe(200);
    expect(r.body.device).toMatchObject({ id: device.id, retiringSince: expect.any(String), retiredAt: null, blockedAt: null });
    expect(r.body.revoked).toEqual([serialOf(wifi.certificate!)]);
    expect(await cert(t, wifi.certificate!)).toMatchObject({ revokedAt: r.body.device.retiringSince, revocationReason: 'cessationOfOperation' });
    expect((await cert(t, identity.certificate!)).revokedAt).toBeNull();
    expect(await lastAudit(t, 'device.retire.requested')).toMatchObject({ actor: 'admin', details: { deviceId: device.id, reason: 'cessationOfOperation', revoked: r.body.revoked } });
    expect(await t.api.ok('GET', `/devices/${device.id}`)).toMatchObject({ retiringSince: r.body.device.retiringSince, retiredAt: null });

    // While retiring: no new certificate by any route, and a second retire is 409.
    expect((await scepEnroll({ scepUrl: t.scepUrl, challenge: early, subject: `CN=${device.name}, O=Retire` })).failInfoText).toMatch(/DEVICE_BLOCKED/);
    expect((await t.api.call('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).status).toBe(409);
    expect((await t.api.call('POST', `/devices/${device.id}/identity-challenge`)).body.error).toMatch(/retiring/);
    expect((await t.api.call('POST', '/enrollment-tokens', { deviceId: device.id, platform: 'android' })).status).toBe(409);
    const whileRetiring = await t.api.call('POST', `/devices/${device.id}/retire`, {});
    expect(whileRetiring.status).toBe(409);
    expect(whileRetiring.body.error).toMatch(/already retiring/);

    // Its platform holds none of our profiles (no delivery report): the check-in itself completes the retirement.
    expect((await checkIn()).status).toBe(200);
    const retired = await t.api.ok('GET', `/devices/${device.id}`);
    expect(retired.retiredAt).toEqual(expect.any(String));
    expect(await cert(t, identity.certificate!)).toMatchObject({ revocationReason: 'cessationOfOperation' });
    expect(await lastAudit(t, 'device.retire.completed')).toMatchObject({ details: { deviceId: device.id, how: 'confirmed', revoked: [serialOf(identity.certificate!)] } });
    const refused = await checkIn();
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toMatch(/retired/);
    expect((await t.api.call('POST', `/devices/${device.id}/identity-challenge`)).body.error).toMatch(/retired/);

    // Twice: 409, nothing written.
    const audits = (await t.api.ok('GET', '/audit?type=device.retire.requested')).length;
    const again = await t.api.call('POST', `/devices/${device.id}/retire`, {});
    expect(again.status).toBe(409);
    expect(again.body.error).toMatch(/already retired/);
    expect((await t.api.ok('GET', '/audit?type=device.retire.requested')).length).toBe(audits);
    expect((await t.api.ok('GET', `/devices/${device.id}`)).retiredAt).toBe(retired.retiredAt);
  });

  it('retire refuses an unknown device (404), a bad reason or body (400), writing nothing; an admin may give keyCompromise', async () => {
    expect((await t.api.call('POST', '/devices/0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b/retire', {})).status).toBe(404);
    const device = await t.api.ok('POST', '/devices', { name: `retire-${++n}`, platform: 'windows' });
    const identity = await identityOf(device.id);
    expect((await t.api.call('POST', `/devices/${device.id}/retire`, { reason: 'cACompromise' })).status).toBe(400);
    expect((await t.api.call('POST', `/devices/${device.id}/retire`, { wipe: true })).status).toBe(400);
    expect((await t.api.ok('GET', `/devices/${device.id}`)).retiredAt).toBeNull();
    expect((await cert(t, identity.certificate!)).revokedAt).toBeNull();
    expect((await t.api.call('POST', `/devices/${device.id}/retire`, { reason: 'keyCompromise' })).status).toBe(200);
    expect((await cert(t, identity.certificate!)).revocationReason).toBe('keyCompromise');
  });

  it('delete revokes, hides the device (404 afterwards), keeps its certificates readable, and is audited', async () => {
    const device = await t.api.ok('POST', '/devices', { name: `delete-${++n}`, platform: 'ios' });
    const identity = await identityOf(device.id);
    const r = await t.api.call('DELETE', `/devices/${device.id}`);
    expect(r.status).toBe(204);
    expect((await t.api.call('GET', `/devices/${device.id}`)).status).toBe(404);
    expect((await t.api.ok('GET', '/devices')).map((d: { id: string }) => d.id)).not.toContain(device.id);
    expect(await cert(t, identity.certificate!)).toMatchObject({ deviceId: device.id, revocationReason: 'cessationOfOperation' });
    expect(await lastAudit(t, 'admin.device.deleted')).toMatchObject({ details: { deviceId: device.id, revoked: [serialOf(identity.certificate!)] } });
    expect((await fetch(`${t.url}/reference/v1/payload`, { headers: certHeader(identity.certificate!) })).status).toBe(401);
    expect((await t.api.call('DELETE', `/devices/${device.id}`)).status).toBe(404);
    expect((await t.api.call('POST', `/devices/${device.id}/retire`, {})).status).toBe(404);
    expect((await t.api.call('DELETE', '/devices/0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b')).status).toBe(404);
  });
});

describe('disabling and deleting a user', () => {
  async function userOnDevice() {
    const user = await newUser();
    const device = await t.api.ok('POST', '/devices', { name: `user-dev-${++n}`, platform: 'android', userId: user.id });
    const profile = await t.api.ok('POST', '/profiles', { name: `user vpn ${n}`, scope: 'user', subjectName: 'CN={{UserPrincipalName}},O=Users' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, userId: user.id });
    const devProfile = await t.api.ok('POST', '/profiles', { name: `dev wifi ${n}`, scope: 'device', subjectName: 'CN={{DeviceName}},O=Devices' });
    await t.api.ok('POST', '/assignments', { profileId: devProfile.id, deviceId: device.id });
    const vpn = await profileCert(profile.id, device.id, `CN=${user.userPrincipalName}, O=Users`);
    const wifi = await profileCert(devProfile.id, device.id, `CN=${device.name}, O=Devices`);
    return { user, device, profile, vpn, wifi };
  }

  it('PATCH edits attributes, email and displayName; refuses unknown fields and the userPrincipalName (400) and unknown users (404)', async () => {
    const user = await newUser();
    const r = await t.api.call('PATCH', `/users/${user.id}`, { displayName: 'Renamed', email: 'renamed@contoso.com', attributes: { dept: 'R&D' } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ...user, displayName: 'Renamed', email: 'renamed@contoso.com', attributes: { dept: 'R&D' } });
    expect(await lastAudit(t, 'admin.user.updated')).toMatchObject({ details: { userId: user.id, fields: ['attributes', 'displayName', 'email'] } });
    for (const bad of [{ userPrincipalName: 'x@y' }, { enabled: 'no' }, { email: 'not-an-email' }, { displayName: '' }]) {
      const b = await t.api.call('PATCH', `/users/${user.id}`, bad);
      expect(b.status).toBe(400);
      expect(b.body.issues.length).toBeGreaterThan(0);
    }
    expect(await t.api.ok('GET', `/users/${user.id}`)).toMatchObject({ displayName: 'Renamed', userPrincipalName: user.userPrincipalName });
    expect((await t.api.call('PATCH', '/users/0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b', { displayName: 'X' })).status).toBe(404);
  });

  it('disabling revokes the user\'s certificates (affiliationChanged), not the device\'s; no new challenges (409); re-enabling un-revokes nothing', async () => {
    const { user, device, profile, vpn, wifi } = await userOnDevice();
    const early = (await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;
    const r = await t.api.call('PATCH', `/users/${user.id}`, { enabled: false });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: user.id, enabled: false, disabledAt: expect.any(String) });
    expect(await cert(t, vpn.certificate!)).toMatchObject({ revokedAt: r.body.disabledAt, revocationReason: 'affiliationChanged' });
    expect((await cert(t, wifi.certificate!)).revokedAt).toBeNull();
    expect(await lastAudit(t, 'admin.user.disabled')).toMatchObject({ details: { userId: user.id, reason: 'affiliationChanged', revoked: [serialOf(vpn.certificate!)] } });

    // No new challenge for them, and one minted before is refused by the CRP.
    const refused = await t.api.call('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatch(/disabled/);
    expect((await t.api.call('POST', '/challenges', { profileId: profile.id, userId: user.id })).status).toBe(409);
    const late = await scepEnroll({ scepUrl: t.scepUrl, challenge: early, subject: `CN=${user.userPrincipalName}, O=Users` });
    expect(late.failInfoText).toMatch(/USER_DISABLED/);

    // Twice: 409 and nothing written (the name in the same call is not applied).
    const again = await t.api.call('PATCH', `/users/${user.id}`, { enabled: false, displayName: 'Not applied' });
    expect(again.status).toBe(409);
    expect((await t.api.ok('GET', `/users/${user.id}`)).displayName).toBe(user.displayName);

    const on = await t.api.call('PATCH', `/users/${user.id}`, { enabled: true });
    expect(on.body).toMatchObject({ enabled: true, disabledAt: null });
    expect((await cert(t, vpn.certificate!)).revokedAt).not.toBeNull();
    await profileCert(profile.id, device.id, `CN=${user.userPrincipalName}, O=Users`);
  });

  it('delete revokes their certificates, clears them as primary user, hides them (404), and is audited', async () => {
    const { user, device, vpn, wifi } = await userOnDevice();
    expect((await t.api.call('DELETE', `/users/${user.id}`)).status).toBe(204);
    expect((await t.api.call('GET', `/users/${user.id}`)).status).toBe(404);
    expect((await t.api.ok('GET', `/devices/${device.id}`)).userId).toBeNull();
    expect(await cert(t, vpn.certificate!)).toMatchObject({ userId: user.id, revocationReason: 'affiliationChanged' });
    expect((await cert(t, wifi.certificate!)).revokedAt).toBeNull();
    expect(await lastAudit(t, 'admin.user.deleted')).toMatchObject({ details: { userId: user.id, revoked: [serialOf(vpn.certificate!)], devicesCleared: [device.id] } });
    expect((await t.api.call('DELETE', `/users/${user.id}`)).status).toBe(404);
    expect((await t.api.call('PATCH', `/users/${user.id}`, { enabled: false })).status).toBe(404);
  });
});

describe('a profile that no longer reaches a device', () => {
  const later = (hours: number) => new Date(Date.now() + hours * HOUR);
  const pendingOf = (tg: TestGateway, serial: string) => tg.gw.storage.listPendingRemovals().then((all) => all.filter((p) => p.serialNumber === serial));

  async function groupDevice(spec: Record<string, unknown> = {}, tg = t) {
    const device = await tg.api.ok('POST', '/devices', { name: `grace-${++n}`, platform: 'android' });
    const group = await tg.api.ok('POST', '/groups', { name: `grace-group-${n}` });
    await tg.api.ok('POST', `/groups/${group.id}/members`, { deviceId: device.id });
    const profile = await tg.api.ok('POST', '/profiles', { name: `grace ${n}`, scope: 'device', subjectName: 'CN={{DeviceName}},O=Grace', ...spec });
    const assignment = await tg.api.ok('POST', '/assignments', { profileId: profile.id, groupId: group.id });
    const wifi = await profileCert(profile.id, device.id, `CN=${device.name}, O=Grace`, tg);
    return { device, group, profile, assignment, wifi, serial: serialOf(wifi.certificate!) };
  }

  it('group membership removed: pending, not revoked within the grace period; revoked (cessationOfOperation) once it ends, and audited', async () => {
    const { device, group, profile, wifi, serial } = await groupDevice();
    await t.api.ok('DELETE', `/groups/${group.id}/members/devices/${device.id}`, undefined, 204);
    await t.gw.devicesChanged.idle();
    const [pending] = await pendingOf(t, serial);
    expect(pending).toMatchObject({ deviceId: device.id, profileId: profile.id });
    expect(await lastAudit(t, 'lifecycle.removal.pending')).toMatchObject({ details: { deviceId: device.id, certificates: [{ serialNumber: serial, profileId: profile.id }] } });

    expect(await t.gw.removals.sweep(later(23))).toBe(0);
    expect((await cert(t, wifi.certificate!)).revokedAt).toBeNull();

    expect(await t.gw.removals.sweep(later(24.01))).toBe(1);
    expect(await cert(t, wifi.certificate!)).toMatchObject({ revokedAt: expect.any(String), revocationReason: 'cessationOfOperation' });
    expect(await lastAudit(t, 'lifecycle.certificate.revoked')).toMatchObject({ actor: 'gateway', details: { trigger: 'removal-grace-ended', deviceId: device.id, profileId: profile.id, serialNumber: serial, revoked: [serial] } });
    expect(await pendingOf(t, serial)).toEqual([]);
  });

  it('nothing is revoked when the profile comes back before the grace period ends', async () => {
    const { device, group, wifi, serial } = await groupDevice();
    await t.api.ok('DELETE', `/groups/${group.id}/members/devices/${device.id}`, undefined, 204);
    await t.gw.devicesChanged.idle();
    expect(await pendingOf(t, serial)).toHaveLength(1);
    await t.api.ok('POST', `/groups/${group.id}/members`, { deviceId: device.id });
    await t.gw.devicesChanged.idle();
    expect(await pendingOf(t, serial)).toEqual([]);
    expect(await lastAudit(t, 'lifecycle.removal.cancelled')).toMatchObject({ details: { deviceId: device.id, certificates: [{ serialNumber: serial }] } });
    await t.gw.removals.sweep(later(48));
    expect((await cert(t, wifi.certificate!)).revokedAt).toBeNull();
  });

  it('a pending removal the sweep finds re-assigned by another route is dropped, not revoked', async () => {
    const { device, profile, assignment, wifi, serial } = await groupDevice();
    await t.api.ok('DELETE', `/assignments/${assignment.id}`, undefined, 204);
    await t.gw.devicesChanged.idle();
    expect(await pendingOf(t, serial)).toHaveLength(1);
    // Straight through storage: no route told the removal tracker.
    await t.gw.storage.createAssignment(profile.id, { deviceId: device.id });
    expect(await t.gw.removals.sweep(later(25))).toBe(0);
    expect((await cert(t, wifi.certificate!)).revokedAt).toBeNull();
    expect(await pendingOf(t, serial)).toEqual([]);
  });

  it('DELETE /profiles and DELETE /assignments put the certificates in pending removal; revokeOnRemoval:false keeps them valid', async () => {
    const deleted = await groupDevice();
    await t.api.ok('DELETE', `/profiles/${deleted.profile.id}`, undefined, 204);
    const unassigned = await groupDevice();
    await t.api.ok('DELETE', `/assignments/${unassigned.assignment.id}`, undefined, 204);
    const kept = await groupDevice({ revokeOnRemoval: false });
    expect(kept.profile.revokeOnRemoval).toBe(false);
    await t.api.ok('DELETE', `/assignments/${kept.assignment.id}`, undefined, 204);
    await t.gw.devicesChanged.idle();
    expect(await pendingOf(t, deleted.serial)).toHaveLength(1);
    expect(await pendingOf(t, unassigned.serial)).toHaveLength(1);
    expect(await pendingOf(t, kept.serial)).toEqual([]);

    // The hourly housekeeping run does the sweep (here with the grace just ended).
    expect(await t.gw.removals.sweep(later(24.5))).toBeGreaterThanOrEqual(2);
    expect((await cert(t, deleted.wifi.certificate!)).revocationReason).toBe('cessationOfOperation');
    expect((await cert(t, unassigned.wifi.certificate!)).revocationReason).toBe('cessationOfOperation');
    expect((await cert(t, kept.wifi.certificate!)).revokedAt).toBeNull();
  });

  it('primary user changed: the previous user\'s certificate on the device is pending removal', async () => {
    const alice = await newUser();
    const bob = await newUser();
    const device = await t.api.ok('POST', '/devices', { name: `handover-${++n}`, platform: 'android', userId: alice.id });
    const profile = await t.api.ok('POST', '/profiles', { name: `handover ${n}`, scope: 'user', subjectName: 'CN={{UserPrincipalName}},O=Hand' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const vpn = await profileCert(profile.id, device.id, `CN=${alice.userPrincipalName}, O=Hand`);
    await t.api.ok('PATCH', `/devices/${device.id}`, { userId: bob.id }, 200);
    await t.gw.devicesChanged.idle();
    expect(await pendingOf(t, serialOf(vpn.certificate!))).toHaveLength(1);
    // Bob's own certificate for the same profile is not.
    const bobs = await profileCert(profile.id, device.id, `CN=${bob.userPrincipalName}, O=Hand`);
    await t.gw.removals.reconcile((await t.gw.storage.getDevice(device.id))!);
    expect(await pendingOf(t, serialOf(bobs.certificate!))).toEqual([]);
  });

  it('pending removals survive a restart; MDMGW_REMOVAL_GRACE_HOURS sets the grace period', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'mdmgw-grace-'));
    try {
      let g = await startTestGateway({ dataDir, env: { MDMGW_REMOVAL_GRACE_HOURS: '2' } });
      const { device, group, wifi, serial } = await groupDevice({}, g);
      await g.api.ok('DELETE', `/groups/${group.id}/members/devices/${device.id}`, undefined, 204);
      await g.gw.devicesChanged.idle();
      await g.stop();
      g = await startTestGateway({ dataDir, env: { MDMGW_REMOVAL_GRACE_HOURS: '2' } });
      try {
        expect(await pendingOf(g, serial)).toHaveLength(1);
        expect(await g.gw.removals.sweep(later(1.5))).toBe(0);
        expect(await g.gw.removals.sweep(later(2.01))).toBe(1);
        expect((await cert(g, wifi.certificate!)).revocationReason).toBe('cessationOfOperation');
      } finally {
        await g.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
