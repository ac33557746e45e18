import { X509Certificate, createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAndroidAdapter } from '../../../src/adapters/android/index.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { schemaErrors } from './schema-validator.js';
import { AndroidAgentSim } from '../../../src/sim/android.js';

// The agent renews its device identity (365 days) when the policy says so,
// with the whole gateway's clock moved a year (createGateway's `now`): an
// identity that is not renewed really expires here.

const DAY = 86_400_000;
let offset = 0;
const now = () => new Date(Date.now() + offset);
let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [createAndroidAdapter()], now });
});
afterAll(async () => {
  await t?.stop();
});

const sha1 = (der: Uint8Array) => createHash('sha1').update(der).digest('hex').toUpperCase();
async function enrolled() {
  offset = 0;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: `a${Math.random()}@contoso.com`, email: 'a@contoso.com', displayName: 'A' });
  const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
  const sim = new AndroidAgentSim(t.url);
  await sim.enroll(tok.enrollmentUrl);
  return { sim, deviceId: sim.deviceId! };
}
const identities = async (deviceId: string) => (await t.api.ok('GET', `/certificates?deviceId=${deviceId}`)).filter((c: any) => c.kind === 'identity');

describe('Android: device identity renewal through the agent', () => {
  it('a year on, an agent that renewed is still managed; the old identity is revoked (superseded) once the new one is used', async () => {
    const { sim, deviceId } = await enrolled();
    const first = sim.identity!;
    const young = await sim.fetchPolicy();
    expect(young.status).toBe(200);
    expect(young.document!.identityRenewal).toBeUndefined();

    // Day 250: 68% used, not due (the last 20%).
    offset = 250 * DAY;
    expect((await sim.fetchPolicy()).document!.identityRenewal).toBeUndefined();

    // Day 300: due. The block validates against the published schema.
    offset = 300 * DAY;
    const due = await sim.fetchPolicy();
    const block = due.document!.identityRenewal!;
    expect(schemaErrors(due.document)).toEqual([]);
    expect(block).toEqual({
      url: `${t.url}/android/v1/identity/renew`,
      subject: `CN=${deviceId},O=mdm-gateway device identity`,
      keyAlgorithm: 'RSA',
      keySize: 2048,
      notAfter: new Date(new X509Certificate(first).validTo).toISOString(),
    });
    const renewed = await sim.renewIdentityIfAsked(due.document!);
    expect(renewed?.status).toBe(201);
    const [old, fresh] = await identities(deviceId);
    expect(fresh).toMatchObject({ renewalOf: old.serialNumber, thumbprint: sha1(sim.identity!), revokedAt: null });
    expect(old.revokedAt).toBeNull();

    // The next fetch with the new identity: no renewal asked, and the old identity is revoked.
    const next = await sim.fetchPolicy();
    expect(next.status).toBe(200);
    expect(next.document!.identityRenewal).toBeUndefined();
    expect((await identities(deviceId)).map((c: any) => c.revocationReason)).toEqual(['superseded', null]);
    const stale = await fetch(`${t.url}/android/v1/policy`, { headers: { 'X-Client-Cert': encodeURIComponent(new X509Certificate(first).toString()) } });
    expect(stale.status).toBe(401);

    // Day 400: the first identity has expired; the agent is still managed.
    offset = 400 * DAY;
    expect((await sim.fetchPolicy()).status).toBe(200);
  });

  it('an agent that never renews is refused once its identity expires', async () => {
    const { sim } = await enrolled();
    offset = 366 * DAY;
    const r = await sim.fetchPolicy();
    expect(r.status).toBe(401);
    expect((r.body as { error: string }).error).toMatch(/expired/);
  });

  it('keeps the old identity while the new one is not installed; refuses an early renewal and another subject', async () => {
    const { sim, deviceId } = await enrolled();
    const first = sim.identity!;
    // Too early: the route refuses with the reason code (409), nothing issued.
    offset = 100 * DAY;
    const early = await sim.renewIdentityIfAsked({ ...(await sim.fetchPolicy()).document!, identityRenewal: { url: `${t.url}/android/v1/identity/renew`, subject: `CN=${deviceId},O=mdm-gateway device identity`, keyAlgorithm: 'RSA', keySize: 2048, notAfter: '' } });
    expect(early).toMatchObject({ status: 409, body: { reason: 'RENEWAL_NOT_DUE' } });

    offset = 320 * DAY;
    const doc = (await sim.fetchPolicy()).document!;
    const renamed = await sim.renewIdentityIfAsked(doc, { subject: 'CN=someone-else,O=mdm-gateway device identity' });
    expect(renamed).toMatchObject({ status: 400, body: { reason: 'RENEWAL_SUBJECT_MISMATCH' } });
    expect(await identities(deviceId)).toHaveLength(1);

    // Issued but not installed: the old identity still works, and the policy still asks.
    expect((await sim.renewIdentityIfAsked(doc, { installFails: true }))?.status).toBe(201);
    expect(sim.identity).toBe(first);
    const again = await sim.fetchPolicy();
    expect(again.status).toBe(200);
    expect(again.document!.identityRenewal).toBeDefined();
    expect((await identities(deviceId)).every((c: any) => c.revokedAt === null)).toBe(true);

    const bad = await fetch(`${t.url}/android/v1/identity/renew`, { method: 'POST', headers: { ...sim.authHeaders(), 'content-type': 'application/json' }, body: JSON.stringify({ csr: 'not base64!' }) });
    expect(bad.status).toBe(400);
    const unauthenticated = await fetch(`${t.url}/android/v1/identity/renew`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(unauthenticated.status).toBe(401);
  });
});
