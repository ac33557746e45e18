import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/canonical-json.js';
import { verifyChallenge } from '../../src/core/challenge/token.js';
import { prepareDeliveries, type Delivery, type DeliveryDeps } from '../../src/core/delivery.js';
import { requestDigest } from '../../src/core/profile/resolve.js';
import { csrMatching, pkcsReq, spec, testCa } from './helpers.js';
import { makeWorld, resolved, type World } from './world.js';

let w: World;
let deps: DeliveryDeps;
const GATEWAY_URL = 'https://mdm.example.com/certsrv/mscep/mscep.dll';

beforeEach(async () => {
  w = await makeWorld();
  deps = {
    storage: w.storage,
    challengeKey: w.keys.privateKey,
    ttlSeconds: 3600,
    gatewayScepUrl: GATEWAY_URL,
    caCertificatePem: 'OUR-CA-PEM',
    now: () => w.now,
  };
});

const ready = (ds: Delivery[]) => ds.filter((d): d is Extract<Delivery, { ok: true }> => d.ok);
const byName = (ds: Delivery[], name: string) => {
  const d = ds.find((x) => x.profile.name === name);
  if (!d) throw new Error(`no delivery for ${name}`);
  return d;
};

describe('prepareDeliveries', () => {
  it('delivers every assigned profile with a challenge the CRP accepts', async () => {
    const ds = await prepareDeliveries(deps, w.laptop);
    expect(ds.map((d) => d.profile.name).sort()).toEqual(['Device Wi-Fi', 'User VPN']);
    expect(ready(ds)).toHaveLength(2);

    const dev = byName(ds, 'Device Wi-Fi');
    const user = byName(ds, 'User VPN');
    if (!dev.ok || !user.ok) throw new Error('unexpected');
    expect(dev.resolved).toEqual(resolved(w, w.devProfile, { kind: 'device', deviceId: w.laptop.id }));
    expect(user.resolved.target).toEqual({ kind: 'user', userId: w.alice.id, deviceId: w.laptop.id });
    expect(dev.scepUrl).toBe(GATEWAY_URL);
    expect(dev.trustedRootPem).toBe('OUR-CA-PEM');
    expect(dev.challengeExpiresAt).toEqual(new Date(w.now.getTime() + 3600_000));

    for (const d of [dev, user]) {
      const v = verifyChallenge(w.keys.publicKey, d.challenge);
      expect(v.ok && v.claims.requestDigest).toBe(requestDigest(d.resolved));
      const decision = await w.crp.evaluate(pkcsReq(csrMatching(d.resolved, d.challenge)));
      expect(decision.allow, d.profile.name).toBe(true);
    }
  });

  it("carries the resolved request's SHA-256, the one its challenge binds (computed once per delivery, issue 13)", async () => {
    for (const d of ready(await prepareDeliveries(deps, w.laptop))) {
      const expected = createHash('sha256').update(canonicalJson(d.resolved)).digest();
      expect(d.requestSha256).toBe(expected.toString('hex'));
      const v = verifyChallenge(w.keys.publicKey, d.challenge);
      expect(v.ok && v.claims.requestDigest).toBe(expected.subarray(0, 16).toString('base64'));
    }
  });

  it('mints a challenge only when it is read, once, valid from when the deliveries were prepared (issue 13)', async () => {
    let minted = 0;
    const prepared = w.now;
    const ds = ready(await prepareDeliveries({ ...deps, onMint: () => minted++ }, w.laptop));
    expect(ds).toHaveLength(2);
    // Planning reads profile, resolved request, URL and root: no signature yet.
    expect(ds.map((d) => [d.profile.name, d.scepUrl, d.resolved.profileId])).toHaveLength(2);
    expect(minted).toBe(0);
    w.now = new Date(prepared.getTime() + 60_000);
    const first = ds[0]!.challenge;
    expect(minted).toBe(1);
    expect(ds[0]!.challenge).toBe(first);
    expect(ds[0]!.challengeExpiresAt).toEqual(new Date(prepared.getTime() + 3600_000));
    expect(minted).toBe(1);
    const v = verifyChallenge(w.keys.publicKey, first);
    expect(v.ok && v.claims.requestDigest).toBe(requestDigest(ds[0]!.resolved));
  });

  it('limits the deliveries to the profiles asked for', async () => {
    const all = await prepareDeliveries(deps, w.laptop);
    const one = all[0]!.profile;
    const ds = await prepareDeliveries(deps, w.laptop, { profileIds: [one.id, '00000000-0000-4000-8000-000000000000'] });
    expect(ds.map((d) => d.profile.id)).toEqual([one.id]);
    expect(await prepareDeliveries(deps, w.laptop, { profileIds: [] })).toEqual([]);
  });

  it('mints a distinct challenge at every check-in', async () => {
    const a = ready(await prepareDeliveries(deps, w.laptop));
    const b = ready(await prepareDeliveries(deps, w.laptop));
    expect(a[0]!.challenge).not.toBe(b[0]!.challenge);
  });

  it('returns nothing for a device with no assignments', async () => {
    expect(await prepareDeliveries(deps, w.kiosk)).toEqual([]);
  });

  it("uses the profile's trusted root when it names one", async () => {
    const { rootPem } = await testCa();
    const p = await w.storage.createProfile(spec({ name: 'Own root', trustedRootCertificate: rootPem }));
    await w.storage.createAssignment(p.id, { deviceId: w.kiosk.id });
    const [d] = await prepareDeliveries(deps, w.kiosk);
    expect(d?.ok && d.trustedRootPem).toBe(rootPem.trim());
  });

  it("holds the delivery of a profile whose CA's root is not known yet (ISSUER_CHAIN_UNKNOWN), never sending another CA's root; the admin's trustedRootCertificate still goes out", async () => {
    const missing = { ...deps, trustFor: () => ({ caName: 'corp', rootPem: '', intermediatesPem: '', missing: 'the chain of upstream CA "corp" has not been fetched yet' }) };
    const p = await w.storage.createProfile(spec({ name: 'Upstream Wi-Fi' }));
    await w.storage.createAssignment(p.id, { deviceId: w.kiosk.id });
    const [held] = await prepareDeliveries(missing, w.kiosk);
    expect(held).toMatchObject({ ok: false, error: { code: 'ISSUER_CHAIN_UNKNOWN', message: expect.stringContaining('has not been fetched yet') } });
    const { rootPem } = await testCa();
    await w.storage.updateProfile(p.id, spec({ name: 'Upstream Wi-Fi', trustedRootCertificate: rootPem }));
    const [sent] = await prepareDeliveries(missing, w.kiosk);
    expect(sent?.ok && sent.trustedRootPem).toBe(rootPem.trim());
  });

  it('picks among the profile SCEP URLs at random and reaches every one', async () => {
    const urls = ['https://a.example/scep', 'https://b.example/scep', 'https://c.example/scep'];
    const p = await w.storage.createProfile(spec({ name: 'Multi', scepServerUrls: urls }));
    await w.storage.createAssignment(p.id, { deviceId: w.kiosk.id });
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const [d] = await prepareDeliveries(deps, w.kiosk);
      if (d?.ok) seen.add(d.scepUrl);
    }
    expect([...seen].sort()).toEqual(urls);
    // The random source decides, including its edges.
    for (const [x, url] of [[0, urls[0]], [0.5, urls[1]], [0.999999, urls[2]]] as const) {
      const [d] = await prepareDeliveries({ ...deps, random: () => x }, w.kiosk);
      expect(d?.ok && d.scepUrl).toBe(url);
    }
  });

  it('reports a missing attribute for that profile only; the others are still delivered', async () => {
    await w.storage.updateDevice(w.laptop.id, { serialNumber: null });
    const laptop = (await w.storage.getDevice(w.laptop.id))!;
    const ds = await prepareDeliveries(deps, laptop);
    const dev = byName(ds, 'Device Wi-Fi');
    expect(dev).toMatchObject({ ok: false, error: { code: 'ATTRIBUTE_MISSING', message: expect.stringContaining('{{SerialNumber}}') } });
    expect(byName(ds, 'User VPN').ok).toBe(true);
  });

  it('refuses a SID-mapped profile to a user without a usable ObjectSid, naming the attribute (strong mapping)', async () => {
    const p = await w.storage.createProfile(spec({ name: 'NPS', scope: 'user', subjectName: 'CN={{UserPrincipalName}}', sidExtension: true }));
    await w.storage.createAssignment(p.id, { userId: w.alice.id });
    const missing = byName(await prepareDeliveries(deps, w.laptop), 'NPS');
    expect(missing).toMatchObject({ ok: false, error: { code: 'ATTRIBUTE_MISSING', message: `profile "NPS": {{user.ObjectSid}} in sidExtension has no value for device ${w.laptop.id}` } });
    await w.storage.updateUser(w.alice.id, { attributes: { ObjectSid: 'S-1-5-21-nope' } }, w.now.toISOString(), 'affiliationChanged');
    const invalid = byName(await prepareDeliveries(deps, w.laptop), 'NPS');
    expect(invalid).toMatchObject({ ok: false, error: { code: 'ATTRIBUTE_MISSING', message: expect.stringMatching(/\{\{user\.ObjectSid\}\} in sidExtension is not a SID/) } });
    await w.storage.updateUser(w.alice.id, { attributes: { ObjectSid: 'S-1-5-21-1-2-3-1001' } }, w.now.toISOString(), 'affiliationChanged');
    const ok = byName(await prepareDeliveries(deps, w.laptop), 'NPS');
    expect(ok.ok && ok.resolved.securityIdentifier).toBe('S-1-5-21-1-2-3-1001');
  });

  it('reports NO_PRIMARY_USER for a user-scope profile on a device without a user', async () => {
    await w.storage.createAssignment(w.userProfile.id, { deviceId: w.kiosk.id });
    await w.storage.createAssignment(w.devProfile.id, { deviceId: w.kiosk.id });
    const p = await w.storage.createProfile(spec({ name: 'Kiosk', subjectName: 'CN={{DeviceName}}' }));
    await w.storage.createAssignment(p.id, { deviceId: w.kiosk.id });
    const ds = await prepareDeliveries(deps, w.kiosk);
    expect(byName(ds, 'User VPN')).toMatchObject({ ok: false, error: { code: 'NO_PRIMARY_USER' } });
    // The device profile needs a serial the kiosk lacks; the plain one is delivered.
    expect(byName(ds, 'Device Wi-Fi')).toMatchObject({ ok: false, error: { code: 'ATTRIBUTE_MISSING' } });
    expect(byName(ds, 'Kiosk').ok).toBe(true);
  });
});
