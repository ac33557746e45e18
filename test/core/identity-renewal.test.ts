import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recordDeliveryReport } from '../../src/core/delivery-reports.js';
import { IDENTITY_RENEWAL_THRESHOLD_PERCENT, identityRenewalDue, replacedBy, supersedesNow } from '../../src/core/identity-renewal.js';
import type { Device } from '../../src/core/model.js';
import type { NewCertificate, Storage } from '../../src/core/storage/storage.js';
import { newStorage } from './helpers.js';

// core/identity-renewal.ts on the real SQLite storage: which certificates a
// confirmed one supersedes, and the delivery report that confirms a profile
// certificate.

const DAY = 86_400_000;

describe('identity renewal rules', () => {
  it('an identity is due in the last 20% of its lifetime', () => {
    expect(IDENTITY_RENEWAL_THRESHOLD_PERCENT).toBe(20);
    const v = { notBefore: '2030-01-01T00:00:00.000Z', notAfter: new Date(Date.parse('2030-01-01T00:00:00.000Z') + 365 * DAY).toISOString() };
    expect(identityRenewalDue(v, new Date(Date.parse(v.notBefore) + 291 * DAY))).toBe(false);
    expect(identityRenewalDue(v, new Date(Date.parse(v.notBefore) + 292 * DAY))).toBe(true);
  });

  it('a renewal does not supersede the identity it renews until it is used; anything else newer does at once', () => {
    expect(supersedesNow({ renewalOf: '01' }, { serialNumber: '01' })).toBe(false);
    expect(supersedesNow({ renewalOf: null }, { serialNumber: '01' })).toBe(true);
    expect(supersedesNow({ renewalOf: '02' }, { serialNumber: '01' })).toBe(true);
  });

  it('replacedBy: older, unrevoked, same device, kind and profile only', () => {
    const c = (serialNumber: string, o: Partial<{ kind: 'identity' | 'profile'; deviceId: string; profileId: string | null; issuedAt: string; revokedAt: string | null }> = {}) => ({
      serialNumber,
      kind: 'profile' as const,
      deviceId: 'd1',
      profileId: 'p1',
      issuedAt: `2030-01-0${serialNumber.slice(1)}T00:00:00.000Z`,
      revokedAt: null,
      ...o,
    });
    const successor = c('05');
    const all = [c('01'), c('02', { revokedAt: '2030-01-03T00:00:00.000Z' }), c('03', { profileId: 'p2' }), c('04', { deviceId: 'd2' }), c('06'), c('07', { kind: 'identity', profileId: null }), successor];
    expect(replacedBy(successor, all).map((x) => x.serialNumber)).toEqual(['01']);
  });
});

describe('an installed report supersedes the older certificates of that profile on that device', () => {
  let storage: Storage;
  let device: Device;
  let profileId: string;
  beforeEach(async () => {
    storage = await newStorage();
    device = await storage.createDevice({ name: 'LAPTOP-9', platform: 'windows' });
    profileId = (await storage.createProfile({ name: 'Wi-Fi', scope: 'device', subjectName: 'CN=x' } as never)).id;
  });
  afterEach(async () => {
    await storage.close();
  });

  async function issue(serial: string, o: Partial<NewCertificate> = {}) {
    const cert: NewCertificate = {
      serialNumber: serial,
      kind: 'profile',
      subject: 'CN=x',
      notBefore: '2030-01-01T00:00:00.000Z',
      notAfter: '2031-01-01T00:00:00.000Z',
      thumbprint: serial.toUpperCase().padEnd(40, '0'),
      sha256: serial.padEnd(64, '0'),
      transactionId: `tx-${serial}`,
      profileId,
      profileVersion: 1,
      deviceId: device.id,
      userId: null,
      der: new Uint8Array([0x30, 0x00]),
      ...o,
    };
    const enrollment = { transactionId: `tx-${serial}`, status: 'issued' as const, kind: cert.kind, challengeId: null, profileId: cert.profileId, profileVersion: cert.profileVersion, deviceId: cert.deviceId, userId: null, csrSha256: 'ab'.repeat(32), csrDer: new Uint8Array([0x30, 0x00]), resolved: null };
    expect(await storage.recordEnrollment(null, enrollment, cert)).toEqual({ ok: true });
    // issuedAt comes from the storage clock: keep them apart.
    await new Promise((r) => setTimeout(r, 5));
    return cert;
  }
  const reason = async (serial: string) => (await storage.getCertificate(serial))?.revocationReason ?? null;

  it('revokes the older one (superseded) when the newer is reported installed, and nothing when the older is reported', async () => {
    const old = await issue('01');
    await issue('02', { deviceId: null });
    const fresh = await issue('03');
    // The older certificate reported (the device still holds it): nothing is revoked.
    await recordDeliveryReport(storage, device, { profileId, profileVersion: 1, state: 'installed', thumbprint: old.thumbprint });
    expect(await reason('01')).toBeNull();
    expect(await reason('03')).toBeNull();
    // A thumbprint we never issued: matched to nothing, revokes nothing.
    await recordDeliveryReport(storage, device, { profileId, profileVersion: 1, state: 'installed', thumbprint: 'F'.repeat(40) });
    expect(await reason('01')).toBeNull();
    // A failed report of the new one: nothing.
    await recordDeliveryReport(storage, device, { profileId, profileVersion: 1, state: 'failed', thumbprint: fresh.thumbprint, errorCode: 'x' });
    expect(await reason('01')).toBeNull();
    // The newer one installed: the older one is superseded; another device's and the new one stay.
    await recordDeliveryReport(storage, device, { profileId, profileVersion: 1, state: 'installed', thumbprint: fresh.thumbprint }, new Date('2030-06-01T00:00:00.000Z'));
    expect(await storage.getCertificate('01')).toMatchObject({ revocationReason: 'superseded', revokedAt: '2030-06-01T00:00:00.000Z' });
    expect(await reason('02')).toBeNull();
    expect(await reason('03')).toBeNull();
    const audit = await storage.listAudit({ type: 'certificate.superseded' });
    expect(audit.map((e) => e.details)).toEqual([{ kind: 'profile', deviceId: device.id, profileId, successor: '03', revoked: ['01'] }]);
  });

  it('revoking the predecessor alone leaves its renewal valid (the chain revocation would not)', async () => {
    await issue('01');
    await issue('02', { renewalOf: '01' });
    await recordDeliveryReport(storage, device, { profileId, profileVersion: 1, state: 'installed', thumbprint: '02'.padEnd(40, '0') });
    expect(await reason('01')).toBe('superseded');
    expect(await reason('02')).toBeNull();
  });
});
