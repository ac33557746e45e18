import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceAdapter } from '../../src/adapters/reference/index.js';
import { toPem } from '../../src/pem.js';
import { scepEnroll, type EnrollResult } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Security issue #15, S5: "a certificate renewed before it is revoked leaves a
// valid successor". Every renewal records the certificate it renews; revoking
// a certificate revokes its renewals, transitively, through the real SCEP
// routes and the admin API.

let t: TestGateway;
let device: { id: string };
let profile: { id: string };
const SUBJECT = 'CN=chain-1, O=Chains';

beforeAll(async () => {
  t = await startTestGateway({ adapters: [referenceAdapter] });
  device = await t.api.ok('POST', '/devices', { name: 'chain-1', platform: 'android' });
  profile = await t.api.ok('POST', '/profiles', { name: 'chains', scope: 'device', subjectName: 'CN={{DeviceName}},O=Chains' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
});
afterAll(async () => {
  await t.stop();
});

const serialOf = (r: EnrollResult) => new X509Certificate(r.certificate!).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
const challenge = async () => (await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;
const certificate = async (serial: string) => t.api.ok('GET', `/certificates/${serial}`);

/** Enrolls with a challenge, then renews twice: by RenewalReq, then by a PKCSReq signed with the renewed certificate (certmonger). */
async function renewedTwice() {
  const first = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: await challenge() });
  expect(first.status).toBe('SUCCESS');
  const second = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, renewWith: { certificate: first.certificate!, key: first.key } });
  expect(second.status).toBe('SUCCESS');
  const third = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, messageType: 'PKCSReq', renewWith: { certificate: second.certificate!, key: second.key } });
  expect(third.status).toBe('SUCCESS');
  return [first, second, third] as const;
}

describe('revocation follows renewal chains (S5)', () => {
  it('every renewal path records the certificate it renews', async () => {
    const [first, second, third] = await renewedTwice();
    expect(await certificate(serialOf(first))).toMatchObject({ renewalOf: null, revokedAt: null, revocationReason: null });
    expect(await certificate(serialOf(second))).toMatchObject({ renewalOf: serialOf(first) });
    expect(await certificate(serialOf(third))).toMatchObject({ renewalOf: serialOf(second) });
    // certmonger resends its spent challenge: the renewal rules are the fallback, and it is a renewal too.
    const spent = await challenge();
    expect((await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: spent })).status).toBe('SUCCESS');
    const fourth = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, challenge: spent, messageType: 'PKCSReq', renewWith: { certificate: third.certificate!, key: third.key } });
    expect(fourth.status).toBe('SUCCESS');
    expect(await certificate(serialOf(fourth))).toMatchObject({ renewalOf: serialOf(third) });
  });

  it('revoking the original revokes the renewed certificates, which can then neither renew nor be renewed from', async () => {
    const [first, second, third] = await renewedTwice();
    const r = await t.api.call('POST', `/certificates/${serialOf(first)}/revoke`, { reason: 'keyCompromise' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ serialNumber: serialOf(first), revocationReason: 'keyCompromise' });
    expect(r.body.revoked).toEqual([serialOf(first), serialOf(second), serialOf(third)]);
    for (const c of [second, third]) {
      expect(await certificate(serialOf(c))).toMatchObject({ revokedAt: r.body.revokedAt, revocationReason: 'keyCompromise' });
    }
    // The newest successor is what an attacker holding the old key would have renewed to.
    const again = await scepEnroll({ scepUrl: t.scepUrl, subject: SUBJECT, renewWith: { certificate: third.certificate!, key: third.key } });
    expect(again.status).toBe('FAILURE');
    expect(again.failInfoText).toMatch(/RENEWAL_SIGNER_REVOKED/);
    const audit = await t.api.ok('GET', '/audit?type=admin.certificate.revoked');
    expect(audit.at(-1).details).toEqual({ serialNumber: serialOf(first), reason: 'keyCompromise', revoked: r.body.revoked });
  });

  it('revoking a middle certificate leaves its predecessor alone', async () => {
    const [first, second, third] = await renewedTwice();
    const r = await t.api.ok('POST', `/certificates/${serialOf(second)}/revoke`, undefined, 200);
    expect(r.revoked).toEqual([serialOf(second), serialOf(third)]);
    expect(r.revocationReason).toBe('unspecified');
    expect((await certificate(serialOf(first))).revokedAt).toBeNull();
  });

  it('a renewed device identity certificate stops authenticating check-ins when the original is revoked', async () => {
    const dev = await t.api.ok('POST', '/devices', { name: 'chain-id', platform: 'android' });
    const id = await t.api.ok('POST', `/devices/${dev.id}/identity-challenge`);
    const first = await scepEnroll({ scepUrl: id.scepUrl, challenge: id.challenge, subject: id.subject });
    expect(first.status).toBe('SUCCESS');
    const renewed = await scepEnroll({ scepUrl: id.scepUrl, subject: id.subject, renewWith: { certificate: first.certificate!, key: first.key } });
    expect(renewed.status).toBe('SUCCESS');
    expect(await certificate(serialOf(renewed))).toMatchObject({ kind: 'identity', renewalOf: serialOf(first) });
    const checkIn = () => fetch(`${t.url}/reference/v1/payload`, { headers: { 'X-Client-Cert': encodeURIComponent(toPem(renewed.certificate!)) } });
    // Revoked before the renewal was ever used: once used, the original is revoked already (superseded,
    // docs/lifecycle.md) and the admin revokes the renewal itself or blocks the device.
    await t.api.ok('POST', `/certificates/${serialOf(first)}/revoke`, undefined, 200);
    const refused = await checkIn();
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toMatch(/revoked/);
  });

  it('refuses an unknown serial (404), an already revoked one (409) and an unknown reason (400), writing nothing', async () => {
    const [first, second] = await renewedTwice();
    expect((await t.api.call('POST', '/certificates/0badc0de/revoke')).status).toBe(404);

    const bad = await t.api.call('POST', `/certificates/${serialOf(first)}/revoke`, { reason: 'removeFromCRL' });
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0]).toMatchObject({ path: 'reason' });
    expect(bad.body.issues[0].message).toMatch(/keyCompromise/);
    expect((await certificate(serialOf(first))).revokedAt).toBeNull();

    await t.api.ok('POST', `/certificates/${serialOf(second)}/revoke`, { reason: 'superseded' }, 200);
    const before = await t.api.ok('GET', '/audit?type=admin.certificate.revoked');
    const twice = await t.api.call('POST', `/certificates/${serialOf(second)}/revoke`, { reason: 'keyCompromise' });
    expect(twice.status).toBe(409);
    expect(twice.body.error).toMatch(/already revoked/);
    expect(await certificate(serialOf(second))).toMatchObject({ revocationReason: 'superseded' });
    expect(await t.api.ok('GET', '/audit?type=admin.certificate.revoked')).toEqual(before);
  });
});
