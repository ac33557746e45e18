import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformAdapter } from '../../../src/core/adapter.js';
import { createReferenceAdapter } from '../../../src/adapters/reference/index.js';
import { toPem } from '../../../src/pem.js';
import { buildCsr, generateDeviceKey, scepEnroll } from '../../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';

// The reference adapter is the skeleton a platform team copies
// (docs/adapters.md). This proves (1) a copy of the folder, registered under
// another name, serves enrollment, check-in and a delivery end to end, next to
// the original, and (2) the skeleton's own rules: the CSR is checked before the
// token is spent, the enrollmentUrl is the URL the device POSTs to, every
// delivery state (including `removed`) can be reported, and a device of a
// platform the adapter does not serve is refused (403).

const adaptersDir = path.resolve(import.meta.dirname, '../../../src/adapters');
let copyDir: string;
let t: TestGateway;

beforeAll(async () => {
  // A real copy of the folder inside src/adapters (its imports are relative to it); removed in afterAll.
  copyDir = mkdtempSync(path.join(adaptersDir, 'copy-test-'));
  cpSync(path.join(adaptersDir, 'reference'), copyDir, { recursive: true });
  const copied = (await import(path.join(copyDir, 'index.ts'))) as { createReferenceAdapter: (o: { name: string; platforms: string[] }) => PlatformAdapter };
  const acme = copied.createReferenceAdapter({ name: 'acme', platforms: ['android'] });
  t = await startTestGateway({ adapters: [acme, createReferenceAdapter({ platforms: ['ios', 'macos'] })] });
}, 60_000);
afterAll(async () => {
  await t?.stop();
  if (copyDir) rmSync(copyDir, { recursive: true, force: true });
});

const certHeader = (der: Uint8Array) => ({ 'X-Client-Cert': encodeURIComponent(toPem(der)) });
let n = 0;
async function newUser() {
  const upn = `skel${++n}@contoso.com`;
  return t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Skel ${n}` });
}
async function csrB64(size = 2048) {
  return Buffer.from(await buildCsr(await generateDeviceKey('RSA', size), { subject: 'CN=ignored' })).toString('base64');
}
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('a copy of src/adapters/reference registered as "acme"', () => {
  it('serves enrollment, check-in and a delivery, beside the original', async () => {
    const user = await newUser();
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
    expect(tok.enrollmentUrl).toBe(`${t.url}/acme/v1/enroll?token=${tok.token}`);

    // Enrollment: the enrollmentUrl as handed out, POSTed to (the token is in its query).
    const enrolled = await post(tok.enrollmentUrl, { platform: 'android', name: 'acme-phone', csr: await csrB64() });
    expect(enrolled.status).toBe(201);
    const { deviceId, certificate } = (await enrolled.json()) as { deviceId: string; certificate: string };
    const identity = new Uint8Array(Buffer.from(certificate, 'base64'));
    expect(new X509Certificate(identity).subject).toContain(deviceId);
    expect(await t.api.ok('GET', `/devices/${deviceId}`)).toMatchObject({ platform: 'android', userId: user.id, reported: { name: 'acme-phone' } });

    // A delivery: an assigned profile arrives at check-in with a fresh challenge, the device enrolls and reports.
    const profile = await t.api.ok('POST', '/profiles', { name: 'acme wifi', scope: 'device', subjectName: 'CN={{DeviceId}},O=Acme' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    const checkin = await fetch(`${t.url}/acme/v1/payload`, { headers: certHeader(identity) });
    expect(checkin.status).toBe(200);
    const payload = (await checkin.json()) as { items: { profileId: string; scepUrl: string; challenge: string }[] };
    expect(payload.items.map((i) => i.profileId)).toEqual([profile.id]);
    const item = payload.items[0]!;
    const scep = await scepEnroll({ scepUrl: item.scepUrl, challenge: item.challenge, subject: `CN=${deviceId}, O=Acme` });
    expect(scep.status).toBe('SUCCESS');
    const thumbprint = new X509Certificate(scep.certificate!).fingerprint.replace(/:/g, '');
    const rep = await post(`${t.url}/acme/v1/report`, { profileId: profile.id, profileVersion: 1, state: 'installed', thumbprint }, certHeader(identity));
    expect(rep.status).toBe(204);
    expect(await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).toEqual([expect.objectContaining({ profileId: profile.id, state: 'installed', thumbprint })]);

    // The copy keeps its own state under its own name.
    expect((await t.api.ok('GET', `/audit?type=acme.enrolled`)).some((e: { details: { deviceId: string } }) => e.details.deviceId === deviceId)).toBe(true);

    // Each registration serves only its platforms: this Android identity is refused by the iOS/macOS original.
    const other = await fetch(`${t.url}/reference/v1/payload`, { headers: certHeader(identity) });
    expect(other.status).toBe(403);
    expect(((await other.json()) as { error: string }).error).toMatch(/not an iOS or a macOS device's/);
  });
});

describe('the skeleton itself', () => {
  it('refuses a CSR it cannot certify before spending the token or making a device', async () => {
    const user = await newUser();
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
    const before = (await t.api.ok('GET', '/devices')).length;
    const weak = await post(tok.enrollmentUrl, { platform: 'android', name: 'weak', csr: await csrB64(1024) });
    expect(weak.status).toBe(400);
    expect(await weak.json()).toMatchObject({ reason: 'KEY_TOO_SHORT' });
    expect((await t.api.ok('GET', '/devices')).length).toBe(before);
    // The token was not spent: the same token enrolls with a good CSR.
    expect((await post(tok.enrollmentUrl, { platform: 'android', name: 'strong', csr: await csrB64() })).status).toBe(201);
    const again = await post(tok.enrollmentUrl, { platform: 'android', name: 'strong', csr: await csrB64() });
    expect(again.status).toBe(401);
    expect(await again.json()).toMatchObject({ reason: 'used' });
  });

  it('accepts every delivery state, including removed, and refuses unknown ones', async () => {
    const user = await newUser();
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' });
    const res = await post(tok.enrollmentUrl, { platform: 'ios', name: 'ipad', csr: await csrB64() });
    expect(res.status).toBe(201);
    const { deviceId, certificate } = (await res.json()) as { deviceId: string; certificate: string };
    const auth = certHeader(new Uint8Array(Buffer.from(certificate, 'base64')));
    const profile = await t.api.ok('POST', '/profiles', { name: `removable ${n}`, scope: 'device', subjectName: 'CN={{DeviceId}}' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    expect((await post(`${t.url}/reference/v1/report`, { profileId: profile.id, profileVersion: 1, state: 'removed' }, auth)).status).toBe(204);
    expect(await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).toEqual([expect.objectContaining({ profileId: profile.id, state: 'removed' })]);
    expect((await post(`${t.url}/reference/v1/report`, { profileId: profile.id, profileVersion: 1, state: 'gone' }, auth)).status).toBe(400);
  });

  it('refuses a platform it does not serve and an enrollment without a token, with a reason', async () => {
    const noToken = await post(`${t.url}/reference/v1/enroll`, { platform: 'ios', name: 'x', csr: await csrB64() });
    expect(noToken.status).toBe(400);
    const user = await newUser();
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' });
    const wrong = await post(tok.enrollmentUrl, { platform: 'windows', name: 'x', csr: await csrB64() });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ reason: 'platform-not-served' });
  });
});
