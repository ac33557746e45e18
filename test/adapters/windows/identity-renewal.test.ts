import { X509Certificate, createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWindowsAdapter } from '../../../src/adapters/windows/index.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { WindowsSimulator } from '../../../src/sim/windows.js';

// The device identity (365 days) renewed through MS-WSTEP automatic renewal,
// with the whole gateway's clock moved (createGateway's `now`: the CA's
// notBefore, device authentication's validity check, the CRP and the adapter),
// so an identity that is not renewed really expires here.

const DAY = 86_400_000;
let offset = 0;
const now = () => new Date(Date.now() + offset);
let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [createWindowsAdapter()], now });
});
afterAll(async () => {
  await t?.stop();
});

const sha1 = (der: Uint8Array) => createHash('sha1').update(der).digest('hex').toUpperCase();
let n = 0;
async function enrolled() {
  offset = 0;
  const upn = `renew${++n}@contoso.com`;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Renew ${n}` });
  const token = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
  const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token.token });
  expect((await sim.enroll()).fault).toBeUndefined();
  const deviceId = new X509Certificate(sim.identity!).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
  return { sim, deviceId };
}
const identities = async (deviceId: string) => (await t.api.ok('GET', `/certificates?deviceId=${deviceId}`)).filter((c: any) => c.kind === 'identity');

describe('Windows: device identity renewal (MS-WSTEP Renew)', () => {
  it('the provisioning document turns on automatic renewal inside the identity renewal period', async () => {
    const { sim } = await enrolled();
    // 20% of 365 days, rounded down; retry every 4 days; our enrollment service.
    expect(sim.renewal).toEqual({ robo: true, renewPeriodDays: 73, retryIntervalDays: 4, serverUrl: `${t.url}/EnrollmentServer/Enrollment.svc` });
    expect(sim.provisioningDoc).toMatch(
      /<characteristic type="WSTEP"><characteristic type="Renew"><parm name="ROBOSupport" value="true" datatype="boolean"\/><parm name="RenewPeriod" value="73" datatype="integer"\/><parm name="RetryInterval" value="4" datatype="integer"\/>/,
    );
  });

  it('a year on, a device that renewed is still managed; the old identity is revoked (superseded) once the new one is used', async () => {
    const { sim, deviceId } = await enrolled();
    const first = sim.identity!;
    expect((await sim.session()).messages.length).toBeGreaterThan(0);

    // Day 200: not due on the device's schedule, and the server refuses an early renewal.
    offset = 200 * DAY;
    expect(await sim.maybeRenewIdentity(now())).toBeNull();
    const early = await sim.renewIdentity();
    expect(early.fault).toEqual({ subcode: 's:CertificateRequest', reason: expect.stringMatching(/RENEWAL_NOT_DUE/) });
    expect(await identities(deviceId)).toHaveLength(1);

    // Day 300: inside RenewPeriod (73 days before day 365).
    offset = 300 * DAY;
    const renewed = await sim.maybeRenewIdentity(now());
    expect(renewed?.fault).toBeUndefined();
    expect(sha1(sim.identity!)).not.toBe(sha1(first));
    const certs = await identities(deviceId);
    expect(certs).toHaveLength(2);
    const [old, fresh] = certs;
    expect(fresh).toMatchObject({ renewalOf: old.serialNumber, revokedAt: null, thumbprint: sha1(sim.identity!) });
    // Issued on the gateway's clock: valid from day 300 for 365 days.
    expect(Date.parse(fresh.notAfter)).toBeGreaterThan(Date.parse(old.notAfter) + 200 * DAY);
    // Not used yet: the old one is still valid and unrevoked.
    expect(old.revokedAt).toBeNull();

    // The next OMA-DM session, with the new certificate: the renewal is confirmed, the old one revoked.
    await sim.session();
    const after = await identities(deviceId);
    expect(after.find((c: any) => c.serialNumber === old.serialNumber)).toMatchObject({ revocationReason: 'superseded' });
    expect(after.find((c: any) => c.serialNumber === fresh.serialNumber)).toMatchObject({ revokedAt: null });
    const superseded = await t.api.ok('GET', '/audit?type=certificate.superseded');
    expect(superseded.some((e: any) => e.details.successor === fresh.serialNumber && e.details.revoked.includes(old.serialNumber))).toBe(true);

    // The old certificate no longer speaks for the device.
    const stale = await sim.post(sim.message('old-1', 1, sim.firstPackage()), { 'X-Client-Cert': encodeURIComponent(new X509Certificate(first).toString()) });
    expect(stale.status).toBe(401);

    // Day 400: past the first identity's expiry; the device is still managed.
    offset = 400 * DAY;
    const log = await sim.session();
    expect(log.messages.length).toBeGreaterThan(0);
  });

  it('a device that never renews drops out once its identity expires (what the renewal prevents)', async () => {
    const { sim } = await enrolled();
    offset = 366 * DAY;
    const r = await sim.post(sim.message('expired-1', 1, sim.firstPackage()));
    expect(r.status).toBe(401);
    expect(JSON.parse(r.text).error).toMatch(/expired/);
  });

  it('keeps the old identity working when the device failed to install the renewal, and renews again', async () => {
    const { sim, deviceId } = await enrolled();
    const first = sim.identity!;
    offset = 310 * DAY;
    expect((await sim.maybeRenewIdentity(now(), { installFails: true }))?.fault).toBeUndefined();
    expect(sim.identity).toBe(first);
    // Still managed with the old certificate: the renewal is not yet in use.
    expect((await sim.session()).messages.length).toBeGreaterThan(0);
    // The retry (RetryInterval later) renews from the old one again, and this time installs it.
    offset = 314 * DAY;
    expect((await sim.maybeRenewIdentity(now()))?.fault).toBeUndefined();
    await sim.session();
    const certs = await identities(deviceId);
    expect(certs).toHaveLength(3);
    const current = certs.find((c: any) => c.thumbprint === sha1(sim.identity!));
    expect(current).toMatchObject({ revokedAt: null, renewalOf: certs[0].serialNumber });
    // Both older ones (the first identity, and the renewal never installed) are superseded.
    expect(certs.filter((c: any) => c !== current).map((c: any) => c.revocationReason)).toEqual(['superseded', 'superseded']);
  });

  it('refuses a renewal without the client certificate, signed by another key, or for another requester', async () => {
    const { sim, deviceId } = await enrolled();
    offset = 300 * DAY;
    const none = await sim.renewIdentity({ clientCert: null });
    expect(none.fault).toEqual({ subcode: 's:Authentication', reason: expect.stringMatching(/TLS client certificate/) });
    expect(none.status).toBe(401);

    // A PKCS#7 signed by a certificate other than the one the client authenticated with.
    const other = await enrolled();
    offset = 300 * DAY;
    const forged = await sim.renewIdentity({ signWith: { certificate: other.sim.identity!, key: other.sim.key! } });
    expect(forged.fault).toEqual({ subcode: 's:Authorization', reason: expect.stringMatching(/not signed with the certificate the client authenticated with/) });

    const renamed = await sim.renewIdentity({ csrSubject: 'CN=someone-else' });
    expect(renamed.fault).toEqual({ subcode: 's:CertificateRequest', reason: expect.stringMatching(/RENEWAL_SUBJECT_MISMATCH/) });
    expect(await identities(deviceId)).toHaveLength(1);
  });

  it('refuses a renewal for a blocked device', async () => {
    const { sim, deviceId } = await enrolled();
    offset = 300 * DAY;
    await t.api.ok('POST', `/devices/${deviceId}/block`, {}, 200);
    const r = await sim.renewIdentity();
    // Blocked: the certificate no longer authenticates anything.
    expect(r.fault?.subcode).toMatch(/s:Authentication|s:Authorization/);
    expect((await identities(deviceId)).every((c: any) => c.revokedAt !== null)).toBe(true);
    expect(await identities(deviceId)).toHaveLength(1);
  });
});
