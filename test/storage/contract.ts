import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IssuedCertificate, ProfileSpec, ResolvedRequest } from '../../src/core/model.js';
import {
  StorageConflictError,
  type CertificateFilter,
  type CertificatePosition,
  type NewCertificate,
  type NewEnrollment,
  type Storage,
} from '../../src/core/storage/storage.js';
import { profileSpec } from '../helpers/profile-spec.js';

// Backend-independent contract for src/core/storage/storage.ts. Every backend
// registers it with a factory that returns a fresh, migrated, empty Storage:
//
//   storageContract('sqlite :memory:', () => openSqliteStorage(':memory:'));
//
// It only talks to the Storage interface, so PostgreSQL runs the same checks.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function isIso(value: string): boolean {
  return !Number.isNaN(Date.parse(value)) && new Date(value).toISOString() === value;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (e: unknown) => e,
  );
}

async function expectStorageError(p: Promise<unknown>, kind: 'not-found' | 'conflict'): Promise<void> {
  const e = await rejection(p);
  expect(e).toBeInstanceOf(StorageConflictError);
  expect((e as StorageConflictError).kind).toBe(kind);
}

function spec(overrides: Partial<ProfileSpec> = {}): ProfileSpec {
  return {
    ...profileSpec({
      name: 'Wi-Fi client',
      subjectName: 'CN={{DeviceName}},OU=MDM,O=Contoso',
      subjectAlternativeNames: [{ type: 'dns', value: '{{DeviceName}}.corp.example' }],
      keyProtection: 'tpmIfPresent',
    }),
    ...overrides,
  };
}

const resolved: ResolvedRequest = {
  profileId: null,
  profileVersion: null,
  target: { kind: 'user', userId: 'u-1', deviceId: null },
  subject: [
    { type: 'CN', value: 'alice' },
    { type: 'O', value: 'Contoso' },
  ],
  subjectAlternativeNames: [{ type: 'upn', value: 'alice@contoso.example' }],
  extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'],
  keyUsage: ['digitalSignature'],
  keySize: 2048,
  hashAlgorithm: 'SHA-256',
  validityDays: 30,
};

function enrollment(transactionId: string, overrides: Partial<NewEnrollment> = {}): NewEnrollment {
  return {
    transactionId,
    status: 'issued',
    kind: 'profile',
    challengeId: null,
    profileId: null,
    profileVersion: null,
    deviceId: 'dev-1',
    userId: null,
    csrSha256: 'ab'.repeat(32),
    csrDer: new Uint8Array([0x30, 0x82, 0x00, 0x01, 0xff, 0x00, 0x7f]),
    resolved,
    ...overrides,
  };
}

function certificate(serialNumber: string, overrides: Partial<NewCertificate> = {}): NewCertificate {
  return {
    serialNumber,
    kind: 'profile',
    subject: `CN=${serialNumber},O=Contoso`,
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter: '2027-01-01T00:00:00.000Z',
    thumbprint: serialNumber.toUpperCase().padEnd(40, '0'),
    sha256: serialNumber.padEnd(64, '0'),
    transactionId: null,
    profileId: null,
    profileVersion: null,
    deviceId: 'dev-1',
    userId: null,
    der: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef]),
    ...overrides,
  };
}

const challenge = (id: string, expiresAt = '2030-01-01T00:00:00.000Z') => ({ id, expiresAt });

function sortedBy<T>(items: T[], key: (t: T) => string): boolean {
  return items.every((item, i) => i === 0 || key(items[i - 1]!) <= key(item));
}

export function storageContract(name: string, open: () => Promise<Storage>): void {
  describe(`storage contract: ${name}`, () => {
    let s: Storage;
    let opened: Storage | undefined; // unset when open() failed, so afterEach does not mask the error

    beforeEach(async () => {
      opened = undefined;
      s = await open();
      opened = s;
    });

    afterEach(async () => {
      await opened?.close();
    });

    // ---- lifecycle --------------------------------------------------------------

    it('a migrated storage has no pending migrations; a closed one does not answer', async () => {
      expect(await s.pendingMigrations()).toEqual([]);
      await s.migrate();
      expect(await s.pendingMigrations()).toEqual([]);
      await s.close();
      opened = undefined;
      await expect(s.pendingMigrations()).rejects.toThrow();
    });

    it('migrate() is idempotent and keeps data', async () => {
      const u = await s.createUser({ userPrincipalName: 'a@x', email: 'a@x', displayName: 'A' });
      await s.migrate();
      await s.migrate();
      expect(await s.getUser(u.id)).toEqual(u);
    });

    // ---- users ------------------------------------------------------------------

    describe('users', () => {
      it('creates, gets and lists users with attributes', async () => {
        const alice = await s.createUser({
          userPrincipalName: 'alice@contoso.example',
          email: 'alice@contoso.example',
          displayName: 'Alice',
          attributes: { department: 'Finance', costCenter: '42' },
        });
        const bob = await s.createUser({ userPrincipalName: 'bob@contoso.example', email: 'bob@x', displayName: 'Bob' });
        expect(alice.id).toMatch(UUID);
        expect(alice.id).not.toBe(bob.id);
        expect(isIso(alice.createdAt)).toBe(true);
        expect(alice.attributes).toEqual({ department: 'Finance', costCenter: '42' });
        expect(bob.attributes).toEqual({});
        expect(await s.getUser(alice.id)).toEqual(alice);
        expect(await s.getUser(bob.id)).toEqual(bob);
        const all = await s.listUsers();
        expect(all).toHaveLength(2);
        expect(all).toEqual(expect.arrayContaining([alice, bob]));
        expect(sortedBy(all, (u) => u.createdAt)).toBe(true);
      });

      it('returns null for an unknown user', async () => {
        expect(await s.getUser('00000000-0000-4000-8000-000000000000')).toBeNull();
      });

      it('refuses a duplicate userPrincipalName with conflict', async () => {
        await s.createUser({ userPrincipalName: 'dup@x', email: 'a@x', displayName: 'A' });
        await expectStorageError(s.createUser({ userPrincipalName: 'dup@x', email: 'b@x', displayName: 'B' }), 'conflict');
        expect(await s.listUsers()).toHaveLength(1);
      });
    });

    // ---- devices ----------------------------------------------------------------

    describe('devices', () => {
      it('creates devices with and without an owner', async () => {
        const u = await s.createUser({ userPrincipalName: 'u@x', email: 'u@x', displayName: 'U' });
        const d1 = await s.createDevice({ name: 'laptop-1', platform: 'windows', serialNumber: 'SN1', userId: u.id, attributes: { site: 'HQ' } });
        const d2 = await s.createDevice({ name: 'phone-1', platform: 'ios' });
        expect(d1).toMatchObject({ name: 'laptop-1', platform: 'windows', serialNumber: 'SN1', userId: u.id, attributes: { site: 'HQ' } });
        expect(d1.id).toMatch(UUID);
        expect(isIso(d1.createdAt)).toBe(true);
        expect(d2).toMatchObject({ serialNumber: null, userId: null, attributes: {}, blockedAt: null });
        expect(await s.getDevice(d1.id)).toEqual(d1);
        expect(await s.getDevice(d2.id)).toEqual(d2);
        expect(await s.getDevice('nope')).toBeNull();
        const all = await s.listDevices();
        expect(all).toHaveLength(2);
        expect(all).toEqual(expect.arrayContaining([d1, d2]));
      });

      it('refuses an unknown owner with not-found and writes nothing', async () => {
        await expectStorageError(s.createDevice({ name: 'x', platform: 'android', userId: 'no-such-user' }), 'not-found');
        expect(await s.listDevices()).toEqual([]);
      });

      it('updates only the patched fields', async () => {
        const u1 = await s.createUser({ userPrincipalName: 'u1@x', email: 'u1@x', displayName: 'U1' });
        const u2 = await s.createUser({ userPrincipalName: 'u2@x', email: 'u2@x', displayName: 'U2' });
        const d = await s.createDevice({ name: 'mac', platform: 'macos', serialNumber: 'C02', userId: u1.id, attributes: { a: '1', b: '2' } });

        const renamed = await s.updateDevice(d.id, { name: 'mac-2' });
        expect(renamed).toEqual({ ...d, name: 'mac-2' });

        const moved = await s.updateDevice(d.id, { userId: u2.id, attributes: { c: '3' } });
        expect(moved).toEqual({ ...d, name: 'mac-2', userId: u2.id, attributes: { c: '3' } });

        const cleared = await s.updateDevice(d.id, { userId: null, serialNumber: null });
        expect(cleared).toEqual({ ...d, name: 'mac-2', userId: null, serialNumber: null, attributes: { c: '3' } });
        expect(await s.getDevice(d.id)).toEqual(cleared);

        expect(await s.updateDevice(d.id, {})).toEqual(cleared);
      });

      it('blocks a device: revokes its certificates and their renewals, once; unblocking keeps them revoked', async () => {
        const d = await s.createDevice({ name: 'd', platform: 'android' });
        const other = await s.createDevice({ name: 'o', platform: 'android' });
        await s.recordEnrollment(null, enrollment('tx-1', { deviceId: d.id }), certificate('01', { deviceId: d.id, kind: 'identity' }));
        await s.recordEnrollment(null, enrollment('tx-2', { deviceId: d.id, userId: 'u-1' }), certificate('02', { deviceId: d.id, userId: 'u-1' }));
        await s.recordEnrollment(null, enrollment('tx-3', { deviceId: d.id }), certificate('03', { deviceId: d.id }));
        await s.revokeCertificateChain('03', '2026-01-02T00:00:00.000Z', 'superseded');
        // a renewal recorded under no device still follows its predecessor
        await s.recordEnrollment(null, enrollment('tx-4', { deviceId: null, renewalOf: '02' }), certificate('04', { deviceId: null, userId: 'u-1', renewalOf: '02' }));
        await s.recordEnrollment(null, enrollment('tx-5', { deviceId: other.id }), certificate('05', { deviceId: other.id }));

        const r = await s.blockDevice(d.id, '2026-03-01T00:00:00Z', 'cessationOfOperation');
        expect(r).toEqual({ ok: true, device: { ...d, blockedAt: '2026-03-01T00:00:00.000Z' }, revoked: ['01', '02', '04'] });
        expect(await s.getDevice(d.id)).toMatchObject({ blockedAt: '2026-03-01T00:00:00.000Z' });
        expect(await s.getCertificate('01')).toMatchObject({ revokedAt: '2026-03-01T00:00:00.000Z', revocationReason: 'cessationOfOperation' });
        expect(await s.getCertificate('03')).toMatchObject({ revokedAt: '2026-01-02T00:00:00.000Z', revocationReason: 'superseded' });
        expect((await s.getCertificate('05'))?.revokedAt).toBeNull();
        expect(await s.getDevice(other.id)).toMatchObject({ blockedAt: null });

        expect(await s.blockDevice(d.id, '2026-03-02T00:00:00Z', 'keyCompromise')).toEqual({ ok: false, reason: 'already-blocked' });
        expect(await s.blockDevice('no-such-device', '2026-03-02T00:00:00Z', 'keyCompromise')).toEqual({ ok: false, reason: 'not-found' });
        expect(await s.getCertificate('01')).toMatchObject({ revocationReason: 'cessationOfOperation' });

        // Nothing new is recorded for a blocked device, whoever asks.
        expect(await s.recordEnrollment(null, enrollment('tx-6', { deviceId: d.id }), certificate('06', { deviceId: d.id }))).toEqual({ ok: false, reason: 'device-blocked' });
        expect(await s.getEnrollment('tx-6')).toBeNull();
        expect(await s.recordEnrollment(challenge('ch-7'), enrollment('tx-7', { status: 'pending', deviceId: d.id, challengeId: 'ch-7' }), null)).toEqual({ ok: true });
        await expectStorageError(s.completeEnrollment('tx-7', certificate('07', { deviceId: d.id })), 'conflict');
        expect(await s.getCertificate('07')).toBeNull();

        expect(await s.unblockDevice(d.id)).toEqual({ ok: true, device: { ...d, blockedAt: null } });
        expect(await s.unblockDevice(d.id)).toEqual({ ok: false, reason: 'not-blocked' });
        expect(await s.unblockDevice('no-such-device')).toEqual({ ok: false, reason: 'not-found' });
        expect((await s.getCertificate('01'))?.revokedAt).toBe('2026-03-01T00:00:00.000Z');
        expect(await s.completeEnrollment('tx-7', certificate('07', { deviceId: d.id }))).toBe(true);
      });

      it('returns null when updating an unknown device, not-found for an unknown owner', async () => {
        expect(await s.updateDevice('no-such-device', { name: 'x' })).toBeNull();
        const d = await s.createDevice({ name: 'd', platform: 'android' });
        await expectStorageError(s.updateDevice(d.id, { userId: 'no-such-user', name: 'changed' }), 'not-found');
        expect(await s.getDevice(d.id)).toEqual(d);
      });

      it('a device may have no admin name; the admin can set and clear it', async () => {
        const d = await s.createDevice({ name: null, platform: 'windows' });
        expect(d).toMatchObject({ name: null, reported: { name: null, serialNumber: null, conflicts: [], updatedAt: null } });
        expect(await s.getDevice(d.id)).toEqual(d);
        expect(await s.updateDevice(d.id, { name: 'pc-1' })).toMatchObject({ name: 'pc-1' });
        expect(await s.updateDevice(d.id, { name: null })).toEqual(d);
      });

      it('stores reported values beside the admin\'s, never over them', async () => {
        const d = await s.createDevice({ name: 'admin-name', platform: 'ios', serialNumber: 'ADMIN-SN' });
        const at = '2026-05-01T10:00:00Z';
        const r = await s.setDeviceReported(d.id, { name: 'Lin iPhone', serialNumber: 'F2LX', conflicts: ['name'], updatedAt: at });
        expect(r).toEqual({ ...d, reported: { name: 'Lin iPhone', serialNumber: 'F2LX', conflicts: ['name'], updatedAt: new Date(at).toISOString() } });
        expect(await s.getDevice(d.id)).toEqual(r);
        // An admin patch leaves the reported values alone.
        expect((await s.updateDevice(d.id, { name: 'renamed' }))!.reported).toEqual(r!.reported);
        expect(await s.setDeviceReported('no-such-device', { name: null, serialNumber: null, conflicts: [], updatedAt: null })).toBeNull();
        await expect(s.setDeviceReported(d.id, { name: null, serialNumber: null, conflicts: [], updatedAt: 'yesterday' })).rejects.toThrow(RangeError);
      });

      it('finds the devices holding a name or serial, as admin or reported value, ignoring case and blanks', async () => {
        const a = await s.createDevice({ name: 'Laptop-7', platform: 'windows', serialNumber: 'SN-1' });
        const b = await s.createDevice({ name: null, platform: 'android' });
        await s.setDeviceReported(b.id, { name: ' laptop-7 ', serialNumber: 'sn-2', conflicts: [], updatedAt: null });
        const c = await s.createDevice({ name: 'other', platform: 'ios' });
        await s.setDeviceReported(c.id, { name: 'SN-1', serialNumber: null, conflicts: [], updatedAt: null });
        const ids = async (field: 'name' | 'serialNumber', v: string) => (await s.findDevicesByIdentifier(field, v)).map((d) => d.id).sort();
        expect(await ids('name', 'LAPTOP-7')).toEqual([a.id, b.id].sort());
        expect(await ids('serialNumber', 'SN-1')).toEqual([a.id]); // c's reported *name* SN-1 is not a serial
        expect(await ids('serialNumber', 'SN-2')).toEqual([b.id]);
        expect(await ids('name', 'nobody')).toEqual([]);
        expect(await ids('name', '  ')).toEqual([]);
      });
    });

    // ---- groups -------------------------------------------------------------------

    describe('groups', () => {
      it('creates, gets and lists groups; duplicate names conflict', async () => {
        const g = await s.createGroup('Finance');
        expect(g.id).toMatch(UUID);
        expect(g.name).toBe('Finance');
        expect(isIso(g.createdAt)).toBe(true);
        expect(await s.getGroup(g.id)).toEqual(g);
        expect(await s.getGroup('nope')).toBeNull();
        await expectStorageError(s.createGroup('Finance'), 'conflict');
        const h = await s.createGroup('HR');
        const all = await s.listGroups();
        expect(all).toHaveLength(2);
        expect(all).toEqual(expect.arrayContaining([g, h]));
      });

      it('adds and removes users and devices; membership is idempotent', async () => {
        const g1 = await s.createGroup('g1');
        const g2 = await s.createGroup('g2');
        const u = await s.createUser({ userPrincipalName: 'u@x', email: 'u@x', displayName: 'U' });
        const d = await s.createDevice({ name: 'd', platform: 'windows' });

        await s.addGroupMember(g1.id, { userId: u.id });
        await s.addGroupMember(g1.id, { userId: u.id }); // idempotent
        await s.addGroupMember(g2.id, { userId: u.id });
        await s.addGroupMember(g2.id, { deviceId: d.id });

        expect(await s.groupsOf({ userId: u.id })).toEqual([g1.id, g2.id].sort());
        expect(await s.groupsOf({ deviceId: d.id })).toEqual([g2.id]);
        // A user id asked as a device id matches nothing.
        expect(await s.groupsOf({ deviceId: u.id })).toEqual([]);

        expect(await s.removeGroupMember(g1.id, { userId: u.id })).toBe(true);
        expect(await s.removeGroupMember(g1.id, { userId: u.id })).toBe(false);
        expect(await s.removeGroupMember(g2.id, { userId: d.id })).toBe(false);
        expect(await s.groupsOf({ userId: u.id })).toEqual([g2.id]);
        expect(await s.groupsOf({ deviceId: d.id })).toEqual([g2.id]);
      });

      it('refuses unknown groups and members with not-found', async () => {
        const g = await s.createGroup('g');
        const u = await s.createUser({ userPrincipalName: 'u@x', email: 'u@x', displayName: 'U' });
        await expectStorageError(s.addGroupMember('no-such-group', { userId: u.id }), 'not-found');
        await expectStorageError(s.addGroupMember(g.id, { userId: 'no-such-user' }), 'not-found');
        await expectStorageError(s.addGroupMember(g.id, { deviceId: 'no-such-device' }), 'not-found');
        expect(await s.groupsOf({ userId: u.id })).toEqual([]);
      });
    });

    // ---- profiles -----------------------------------------------------------------

    describe('profiles', () => {
      it('creates version 1 and round-trips the whole spec', async () => {
        const input = spec({
          keyExportable: true,
          requireApproval: true,
          scepServerUrls: ['https://a.example/scep', 'https://b.example/scep'],
          trustedRootCertificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
        });
        const p = await s.createProfile(input);
        expect(p.id).toMatch(UUID);
        expect(p.version).toBe(1);
        expect(isIso(p.createdAt)).toBe(true);
        expect(p.updatedAt).toBe(p.createdAt);
        const { id: _id, version: _v, createdAt: _c, updatedAt: _u, ...rest } = p;
        expect(rest).toEqual(input);
        const got = await s.getProfile(p.id);
        expect(got).toEqual(p);
        expect(got?.keyExportable).toBe(true);
        expect(got?.requireApproval).toBe(true);
        expect(await s.getProfile(p.id, 1)).toEqual(p);
      });

      it('returns null for an unknown profile or version', async () => {
        const p = await s.createProfile(spec());
        expect(await s.getProfile('no-such-profile')).toBeNull();
        expect(await s.getProfile('no-such-profile', 1)).toBeNull();
        expect(await s.getProfile(p.id, 2)).toBeNull();
        expect(await s.updateProfile('no-such-profile', spec())).toBeNull();
      });

      it('keeps every version immutable and readable', async () => {
        const v1 = await s.createProfile(spec({ name: 'v1', validityDays: 30 }));
        const v2 = await s.updateProfile(v1.id, spec({ name: 'v2', validityDays: 60, keyUsage: ['digitalSignature'] }));
        expect(v2).not.toBeNull();
        expect(v2!.id).toBe(v1.id);
        expect(v2!.version).toBe(2);
        expect(v2!.createdAt).toBe(v1.createdAt);
        expect(v2!.updatedAt >= v1.updatedAt).toBe(true);
        expect(v2!.name).toBe('v2');

        expect(await s.getProfile(v1.id)).toEqual(v2);
        const old = await s.getProfile(v1.id, 1);
        expect(old).toEqual(v1);
        expect(old?.name).toBe('v1');
        expect(old?.validityDays).toBe(30);
        expect(old?.keyUsage).toEqual(['digitalSignature', 'keyEncipherment']);

        const v3 = await s.updateProfile(v1.id, spec({ name: 'v3' }));
        expect(v3?.version).toBe(3);
        expect((await s.getProfile(v1.id, 2))?.name).toBe('v2');
        const list = await s.listProfiles();
        expect(list).toHaveLength(1);
        expect(list[0]).toEqual(v3);
      });

      it('stores only the spec when a caller passes a whole Profile back', async () => {
        const p = await s.createProfile(spec({ name: 'original' }));
        const edited = { ...p, name: 'edited', version: 99, id: 'forged', createdAt: '1999-01-01T00:00:00.000Z' };
        const v2 = await s.updateProfile(p.id, edited);
        expect(v2).toMatchObject({ id: p.id, version: 2, name: 'edited', createdAt: p.createdAt });
        expect(await s.getProfile(p.id)).toEqual(v2);
      });

      it('gives concurrent updates distinct consecutive versions', async () => {
        const p = await s.createProfile(spec());
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => s.updateProfile(p.id, spec({ name: `edit-${i}` }))),
        );
        const versions = results.map((r) => r!.version).sort((a, b) => a - b);
        expect(versions).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        for (const r of results) expect(await s.getProfile(p.id, r!.version)).toEqual(r);
        expect((await s.getProfile(p.id))?.version).toBe(11);
      });

      it('lists current versions of live profiles only', async () => {
        const a = await s.createProfile(spec({ name: 'a' }));
        const b = await s.createProfile(spec({ name: 'b' }));
        const c = await s.createProfile(spec({ name: 'c' }));
        const a2 = await s.updateProfile(a.id, spec({ name: 'a2' }));
        expect(await s.deleteProfile(c.id)).toBe(true);
        const list = await s.listProfiles();
        expect(list).toHaveLength(2);
        expect(list).toEqual(expect.arrayContaining([a2, b]));
        expect(sortedBy(list, (p) => p.createdAt)).toBe(true);
      });

      it('soft-deletes: hidden from get and list, old versions kept for audit, assignments removed', async () => {
        const u = await s.createUser({ userPrincipalName: 'u@x', email: 'u@x', displayName: 'U' });
        const p = await s.createProfile(spec({ name: 'v1' }));
        const v2 = await s.updateProfile(p.id, spec({ name: 'v2' }));
        const keep = await s.createProfile(spec({ name: 'keep' }));
        await s.createAssignment(p.id, { userId: u.id });
        const kept = await s.createAssignment(keep.id, { userId: u.id });

        expect(await s.deleteProfile(p.id)).toBe(true);
        expect(await s.deleteProfile(p.id)).toBe(false);
        expect(await s.deleteProfile('no-such-profile')).toBe(false);

        expect(await s.getProfile(p.id)).toBeNull();
        expect(await s.getProfile(p.id, 1)).toEqual(p);
        expect(await s.getProfile(p.id, 2)).toEqual(v2);
        expect((await s.listProfiles()).map((x) => x.id)).toEqual([keep.id]);
        expect(await s.updateProfile(p.id, spec({ name: 'v3' }))).toBeNull();
        expect(await s.getProfile(p.id, 3)).toBeNull();

        expect(await s.listAssignments()).toEqual([kept]);
        expect(await s.assignmentsFor([{ userId: u.id }])).toEqual([kept]);
        await expectStorageError(s.createAssignment(p.id, { userId: u.id }), 'not-found');
      });
    });

    // ---- assignments ----------------------------------------------------------------

    describe('assignments', () => {
      async function world() {
        const u = await s.createUser({ userPrincipalName: 'u@x', email: 'u@x', displayName: 'U' });
        const d = await s.createDevice({ name: 'd', platform: 'windows', userId: u.id });
        const g = await s.createGroup('g');
        const p = await s.createProfile(spec({ name: 'p' }));
        const q = await s.createProfile(spec({ name: 'q', scope: 'user' }));
        return { u, d, g, p, q };
      }

      it('creates, lists, filters and deletes assignments', async () => {
        const { u, d, g, p, q } = await world();
        const a1 = await s.createAssignment(p.id, { userId: u.id });
        const a2 = await s.createAssignment(p.id, { deviceId: d.id });
        const a3 = await s.createAssignment(q.id, { groupId: g.id });
        expect(a1.id).toMatch(UUID);
        expect(a1).toMatchObject({ profileId: p.id, target: { userId: u.id } });
        expect(a2.target).toEqual({ deviceId: d.id });
        expect(a3.target).toEqual({ groupId: g.id });
        expect(isIso(a1.createdAt)).toBe(true);

        const all = await s.listAssignments();
        expect(all).toHaveLength(3);
        expect(all).toEqual(expect.arrayContaining([a1, a2, a3]));
        const forP = await s.listAssignments({ profileId: p.id });
        expect(forP).toHaveLength(2);
        expect(forP).toEqual(expect.arrayContaining([a1, a2]));
        expect(await s.listAssignments({ profileId: q.id })).toEqual([a3]);
        expect(await s.listAssignments({ profileId: 'none' })).toEqual([]);

        expect(await s.deleteAssignment(a2.id)).toBe(true);
        expect(await s.deleteAssignment(a2.id)).toBe(false);
        expect(await s.listAssignments({ profileId: p.id })).toEqual([a1]);
      });

      it('refuses duplicates with conflict and unknown references with not-found', async () => {
        const { u, d, g, p } = await world();
        await s.createAssignment(p.id, { userId: u.id });
        await expectStorageError(s.createAssignment(p.id, { userId: u.id }), 'conflict');
        await expectStorageError(s.createAssignment('no-such-profile', { userId: u.id }), 'not-found');
        await expectStorageError(s.createAssignment(p.id, { userId: 'no-such-user' }), 'not-found');
        await expectStorageError(s.createAssignment(p.id, { deviceId: 'no-such-device' }), 'not-found');
        await expectStorageError(s.createAssignment(p.id, { groupId: 'no-such-group' }), 'not-found');
        // Ids of the wrong kind are unknown too.
        await expectStorageError(s.createAssignment(p.id, { groupId: d.id }), 'not-found');
        await expectStorageError(s.createAssignment(p.id, { deviceId: g.id }), 'not-found');
        expect(await s.listAssignments()).toHaveLength(1);
      });

      it('finds assignments for any of the given targets', async () => {
        const { u, d, g, p, q } = await world();
        const other = await s.createUser({ userPrincipalName: 'o@x', email: 'o@x', displayName: 'O' });
        const au = await s.createAssignment(p.id, { userId: u.id });
        const ad = await s.createAssignment(q.id, { deviceId: d.id });
        const ag = await s.createAssignment(q.id, { groupId: g.id });
        await s.createAssignment(p.id, { userId: other.id });

        expect(await s.assignmentsFor([])).toEqual([]);
        expect(await s.assignmentsFor([{ userId: u.id }])).toEqual([au]);
        expect(await s.assignmentsFor([{ deviceId: d.id }])).toEqual([ad]);
        const mixed = await s.assignmentsFor([{ userId: u.id }, { deviceId: d.id }, { groupId: g.id }, { groupId: g.id }]);
        expect(mixed).toHaveLength(3);
        expect(mixed).toEqual(expect.arrayContaining([au, ad, ag]));
        // The kind matters, not only the id.
        expect(await s.assignmentsFor([{ groupId: u.id }, { userId: d.id }, { deviceId: g.id }])).toEqual([]);
        expect(await s.assignmentsFor([{ userId: 'nobody' }])).toEqual([]);
      });
    });

    // ---- enrollments -------------------------------------------------------------------

    describe('recordEnrollment', () => {
      it('records an issued enrollment, its certificate and the spent challenge', async () => {
        const result = await s.recordEnrollment(
          challenge('ch-1', '2030-06-01T12:00:00Z'),
          enrollment('tx-1', { challengeId: 'ch-1', profileId: 'p-1', profileVersion: 3, userId: 'u-1' }),
          certificate('0a1b', { transactionId: 'tx-1', profileId: 'p-1', profileVersion: 3, userId: 'u-1' }),
        );
        expect(result).toEqual({ ok: true });

        const e = await s.getEnrollment('tx-1');
        expect(e).toMatchObject({
          transactionId: 'tx-1',
          status: 'issued',
          kind: 'profile',
          challengeId: 'ch-1',
          profileId: 'p-1',
          profileVersion: 3,
          deviceId: 'dev-1',
          userId: 'u-1',
          csrSha256: 'ab'.repeat(32),
          certificateSerial: '0a1b',
          resolved,
        });
        expect(e!.csrDer).toEqual(new Uint8Array([0x30, 0x82, 0x00, 0x01, 0xff, 0x00, 0x7f]));
        expect(Object.getPrototypeOf(e!.csrDer)).toBe(Uint8Array.prototype);
        expect(isIso(e!.createdAt)).toBe(true);
        expect(e!.updatedAt).toBe(e!.createdAt);

        const c = await s.getCertificate('0a1b');
        expect(c).toMatchObject({
          serialNumber: '0a1b',
          kind: 'profile',
          transactionId: 'tx-1',
          profileId: 'p-1',
          profileVersion: 3,
          deviceId: 'dev-1',
          userId: 'u-1',
          revokedAt: null,
          notBefore: '2026-01-01T00:00:00.000Z',
        });
        expect(c!.der).toEqual(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef]));
        expect(Object.getPrototypeOf(c!.der)).toBe(Uint8Array.prototype);
        expect(isIso(c!.issuedAt)).toBe(true);

        expect(await s.isChallengeUsed('ch-1')).toBe(true);
        expect(await s.isChallengeUsed('ch-2')).toBe(false);
      });

      it('records a pending enrollment without a certificate', async () => {
        expect(
          await s.recordEnrollment(challenge('ch-p'), enrollment('tx-p', { status: 'pending', challengeId: 'ch-p' }), null),
        ).toEqual({ ok: true });
        const e = await s.getEnrollment('tx-p');
        expect(e).toMatchObject({ status: 'pending', certificateSerial: null, challengeId: 'ch-p' });
        expect(await s.listCertificates()).toEqual([]);
        expect(await s.isChallengeUsed('ch-p')).toBe(true);
      });

      it('records an enrollment without a challenge (renewal) and a null resolved request', async () => {
        expect(
          await s.recordEnrollment(null, enrollment('tx-r', { kind: 'identity', resolved: null }), certificate('11', { kind: 'identity' })),
        ).toEqual({ ok: true });
        expect(await s.getEnrollment('tx-r')).toMatchObject({ kind: 'identity', challengeId: null, resolved: null });
        expect((await s.getCertificate('11'))?.kind).toBe('identity');
      });

      it('fills challengeId from the challenge being spent', async () => {
        await s.recordEnrollment(challenge('ch-f'), enrollment('tx-f', { challengeId: null }), certificate('f1'));
        expect((await s.getEnrollment('tx-f'))?.challengeId).toBe('ch-f');
      });

      it('returns null for an unknown transaction', async () => {
        expect(await s.getEnrollment('nope')).toBeNull();
      });

      it('a second use of a challenge is challenge-used and writes nothing', async () => {
        expect(await s.recordEnrollment(challenge('ch-1'), enrollment('tx-1'), certificate('01'))).toEqual({ ok: true });
        expect(await s.recordEnrollment(challenge('ch-1'), enrollment('tx-2'), certificate('02'))).toEqual({
          ok: false,
          reason: 'challenge-used',
        });
        expect(await s.getEnrollment('tx-2')).toBeNull();
        expect(await s.getCertificate('02')).toBeNull();
        expect((await s.listCertificates()).map((c) => c.serialNumber)).toEqual(['01']);
        // Also for a pending enrollment without a certificate.
        expect(
          await s.recordEnrollment(challenge('ch-1'), enrollment('tx-3', { status: 'pending' }), null),
        ).toEqual({ ok: false, reason: 'challenge-used' });
        expect(await s.getEnrollment('tx-3')).toBeNull();
      });

      it('an existing transactionId is transaction-exists and writes nothing', async () => {
        expect(await s.recordEnrollment(challenge('ch-1'), enrollment('tx-1'), certificate('01'))).toEqual({ ok: true });
        const before = await s.getEnrollment('tx-1');
        expect(
          await s.recordEnrollment(challenge('ch-2'), enrollment('tx-1', { csrSha256: 'cd'.repeat(32) }), certificate('02')),
        ).toEqual({ ok: false, reason: 'transaction-exists' });
        expect(await s.isChallengeUsed('ch-2')).toBe(false);
        expect(await s.getCertificate('02')).toBeNull();
        expect(await s.getEnrollment('tx-1')).toEqual(before);
        // Same transaction and same challenge (a retry): transaction-exists wins.
        expect(await s.recordEnrollment(challenge('ch-1'), enrollment('tx-1'), certificate('03'))).toEqual({
          ok: false,
          reason: 'transaction-exists',
        });
        expect(await s.getCertificate('03')).toBeNull();
      });

      it('rolls everything back when a later statement fails (duplicate certificate serial)', async () => {
        expect(await s.recordEnrollment(challenge('ch-1'), enrollment('tx-1'), certificate('01'))).toEqual({ ok: true });
        // The enrollment and the challenge are written before the certificate fails.
        await expectStorageError(s.recordEnrollment(challenge('ch-2'), enrollment('tx-2'), certificate('01')), 'conflict');
        expect(await s.getEnrollment('tx-2')).toBeNull();
        expect(await s.isChallengeUsed('ch-2')).toBe(false);
        expect(await s.listCertificates()).toHaveLength(1);
        // The storage is usable afterwards and the challenge is still spendable.
        expect(await s.recordEnrollment(challenge('ch-2'), enrollment('tx-2'), certificate('02'))).toEqual({ ok: true });
      });

      it('refuses a certificate/status or challenge id mismatch without writing', async () => {
        await expect(s.recordEnrollment(challenge('ch-1'), enrollment('tx-1', { status: 'issued' }), null)).rejects.toThrow(TypeError);
        await expect(
          s.recordEnrollment(challenge('ch-1'), enrollment('tx-1', { status: 'pending' }), certificate('01')),
        ).rejects.toThrow(TypeError);
        await expect(
          s.recordEnrollment(challenge('ch-1'), enrollment('tx-1', { challengeId: 'some-other-challenge' }), certificate('01')),
        ).rejects.toThrow(TypeError);
        expect(await s.getEnrollment('tx-1')).toBeNull();
        expect(await s.isChallengeUsed('ch-1')).toBe(false);
      });

      it('20 parallel uses of one challenge: exactly one succeeds', async () => {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            s.recordEnrollment(challenge('ch-race'), enrollment(`tx-${i}`, { challengeId: 'ch-race' }), certificate(`c${i}`, { transactionId: `tx-${i}` })),
          ),
        );
        const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
        expect(winners).toHaveLength(1);
        expect(results.filter((r) => !r.ok && r.reason === 'challenge-used')).toHaveLength(19);
        const w = winners[0]!;
        const enrollments = await Promise.all(Array.from({ length: 20 }, (_, i) => s.getEnrollment(`tx-${i}`)));
        expect(enrollments.filter((e) => e !== null).map((e) => e!.transactionId)).toEqual([`tx-${w}`]);
        expect((await s.listCertificates()).map((c) => c.serialNumber)).toEqual([`c${w}`]);
      });

      it('20 parallel requests with one transactionId: exactly one succeeds', async () => {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => s.recordEnrollment(challenge(`ch-${i}`), enrollment('tx-same'), certificate(`c${i}`))),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(results.filter((r) => !r.ok && r.reason === 'transaction-exists')).toHaveLength(19);
        const used = await Promise.all(Array.from({ length: 20 }, (_, i) => s.isChallengeUsed(`ch-${i}`)));
        expect(used.filter(Boolean)).toHaveLength(1);
        expect(await s.listCertificates()).toHaveLength(1);
        const serial = (await s.getEnrollment('tx-same'))!.certificateSerial;
        expect((await s.listCertificates())[0]!.serialNumber).toBe(serial);
      });
    });

    describe('completeEnrollment and rejectEnrollment', () => {
      async function pending(tx: string): Promise<void> {
        expect(await s.recordEnrollment(challenge(`ch-${tx}`), enrollment(tx, { status: 'pending' }), null)).toEqual({ ok: true });
      }

      it('pending -> issued links the certificate, once', async () => {
        await pending('tx-1');
        const before = await s.getEnrollment('tx-1');
        expect(await s.completeEnrollment('tx-1', certificate('aa', { transactionId: 'tx-1' }))).toBe(true);
        const after = await s.getEnrollment('tx-1');
        expect(after).toMatchObject({ status: 'issued', certificateSerial: 'aa', createdAt: before!.createdAt });
        expect(after!.updatedAt >= before!.updatedAt).toBe(true);
        expect((await s.getCertificate('aa'))?.transactionId).toBe('tx-1');

        expect(await s.completeEnrollment('tx-1', certificate('bb', { transactionId: 'tx-1' }))).toBe(false);
        expect(await s.getCertificate('bb')).toBeNull();
        expect((await s.getEnrollment('tx-1'))?.certificateSerial).toBe('aa');
        expect(await s.rejectEnrollment('tx-1')).toBe(false);
        expect((await s.getEnrollment('tx-1'))?.status).toBe('issued');
      });

      it('pending -> rejected, once; a rejected enrollment cannot be completed', async () => {
        await pending('tx-2');
        expect(await s.rejectEnrollment('tx-2')).toBe(true);
        expect(await s.getEnrollment('tx-2')).toMatchObject({ status: 'rejected', certificateSerial: null });
        expect(await s.rejectEnrollment('tx-2')).toBe(false);
        expect(await s.completeEnrollment('tx-2', certificate('cc'))).toBe(false);
        expect(await s.getCertificate('cc')).toBeNull();
        expect((await s.getEnrollment('tx-2'))?.status).toBe('rejected');
      });

      it('unknown transactions are neither completed nor rejected', async () => {
        expect(await s.completeEnrollment('nope', certificate('dd'))).toBe(false);
        expect(await s.rejectEnrollment('nope')).toBe(false);
        expect(await s.getCertificate('dd')).toBeNull();
      });

      it('completing with a duplicate serial conflicts and leaves the enrollment pending', async () => {
        await s.recordEnrollment(null, enrollment('tx-0'), certificate('ee'));
        await pending('tx-3');
        await expectStorageError(s.completeEnrollment('tx-3', certificate('ee')), 'conflict');
        expect(await s.getEnrollment('tx-3')).toMatchObject({ status: 'pending', certificateSerial: null });
        expect(await s.completeEnrollment('tx-3', certificate('ff'))).toBe(true);
      });

      it('parallel completions of one enrollment: exactly one wins', async () => {
        await pending('tx-4');
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => s.completeEnrollment('tx-4', certificate(`p${i}`))));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await s.listCertificates()).toHaveLength(1);
      });
    });

    describe('listRecentEnrollments', () => {
      it('the newest first (createdAt, then transactionId, descending), at most `limit`, every status', async () => {
        expect(await s.listRecentEnrollments(50)).toEqual([]);
        await s.recordEnrollment(null, enrollment('tx-a'), certificate('0a', { transactionId: 'tx-a' }));
        await s.recordEnrollment(challenge('ch-b'), enrollment('tx-b', { status: 'pending', challengeId: 'ch-b' }), null);
        await s.recordEnrollment(challenge('ch-c'), enrollment('tx-c', { status: 'pending', challengeId: 'ch-c' }), null);
        expect(await s.rejectEnrollment('tx-c')).toBe(true);
        await s.recordEnrollment(null, enrollment('tx-d', { kind: 'identity', resolved: null }), certificate('0d', { transactionId: 'tx-d', kind: 'identity' }));

        const all = await s.listRecentEnrollments(50);
        expect(all.map((e) => e.transactionId).sort()).toEqual(['tx-a', 'tx-b', 'tx-c', 'tx-d']);
        expect(new Set(all.map((e) => e.status))).toEqual(new Set(['issued', 'pending', 'rejected']));
        const key = (e: { createdAt: string; transactionId: string }) => `${e.createdAt} ${e.transactionId}`;
        expect(sortedBy([...all].reverse(), key)).toBe(true);
        expect(all.find((e) => e.transactionId === 'tx-a')).toEqual(await s.getEnrollment('tx-a'));

        const two = await s.listRecentEnrollments(2);
        expect(two).toEqual(all.slice(0, 2));
      });

      it('a later enrollment comes before an earlier one', async () => {
        await s.recordEnrollment(null, enrollment('tx-z'), certificate('1a'));
        await new Promise((r) => setTimeout(r, 5));
        await s.recordEnrollment(null, enrollment('tx-a'), certificate('1b'));
        expect((await s.listRecentEnrollments(1)).map((e) => e.transactionId)).toEqual(['tx-a']);
      });

      it('refuses a limit that is not a positive integer', async () => {
        for (const bad of [0, -1, 1.5, Number.NaN]) await expect(s.listRecentEnrollments(bad)).rejects.toThrow(RangeError);
      });
    });

    // ---- certificates ------------------------------------------------------------------

    describe('certificates', () => {
      it('filters by device, user, profile, transaction and kind', async () => {
        const rows: Array<[string, Partial<NewCertificate>]> = [
          ['01', { deviceId: 'd1', userId: null, profileId: 'p1', transactionId: 't1' }],
          ['02', { deviceId: 'd1', userId: 'u1', profileId: 'p2', transactionId: 't2' }],
          ['03', { deviceId: 'd2', userId: 'u1', profileId: 'p1', transactionId: 't3' }],
          ['04', { deviceId: null, userId: 'u2', profileId: null, transactionId: null }],
          ['05', { deviceId: 'd1', userId: null, profileId: null, transactionId: 't5', kind: 'identity' }],
        ];
        for (const [serial, o] of rows) {
          const tx = o.transactionId ?? `tx-${serial}`;
          expect(await s.recordEnrollment(null, enrollment(tx), certificate(serial, o))).toEqual({ ok: true });
        }
        const serials = (list: IssuedCertificate[]) => list.map((c) => c.serialNumber).sort();

        const all = await s.listCertificates();
        expect(serials(all)).toEqual(['01', '02', '03', '04', '05']);
        expect(sortedBy(all, (c) => c.issuedAt)).toBe(true);
        expect(serials(await s.listCertificates({}))).toEqual(['01', '02', '03', '04', '05']);
        expect(serials(await s.listCertificates({ deviceId: 'd1' }))).toEqual(['01', '02', '05']);
        expect(serials(await s.listCertificates({ deviceId: 'd1', kind: 'identity' }))).toEqual(['05']);
        expect(serials(await s.listCertificates({ kind: 'profile' }))).toEqual(['01', '02', '03', '04']);
        expect(serials(await s.listCertificates({ userId: 'u1' }))).toEqual(['02', '03']);
        expect(serials(await s.listCertificates({ profileId: 'p1' }))).toEqual(['01', '03']);
        expect(serials(await s.listCertificates({ transactionId: 't2' }))).toEqual(['02']);
        expect(serials(await s.listCertificates({ deviceId: 'd1', userId: 'u1' }))).toEqual(['02']);
        expect(serials(await s.listCertificates({ deviceId: 'd2', profileId: 'p2' }))).toEqual([]);
        expect(serials(await s.listCertificates({ userId: 'nobody' }))).toEqual([]);
        expect(await s.getCertificate('99')).toBeNull();
      });

      it('filters by status at a given time, by expiry and by a device list, and counts per status', async () => {
        const asOf = '2026-06-01T00:00:00.000Z';
        const rows: Array<[string, string, string]> = [
          // serial, device, notAfter
          ['11', 'd1', '2026-05-31T23:59:59.999Z'], // expired a moment before asOf
          ['12', 'd1', '2026-06-01T00:00:00.000Z'], // expires exactly at asOf: still valid
          ['13', 'd2', '2026-06-10T00:00:00.000Z'], // valid, expiring within 10 days
          ['14', 'd2', '2027-06-01T00:00:00.000Z'], // valid for a year
          ['15', 'd3', '2026-01-01T00:00:00.000Z'], // expired and revoked: revoked wins
          ['16', 'd3', '2027-01-01T00:00:00.000Z'], // revoked
        ];
        for (const [serial, deviceId, notAfter] of rows) {
          expect(await s.recordEnrollment(null, enrollment(`tx-${serial}`), certificate(serial, { deviceId, notAfter }))).toEqual({ ok: true });
        }
        await s.revokeCertificateChain('15', '2026-02-01T00:00:00.000Z', 'superseded');
        await s.revokeCertificateChain('16', '2026-02-01T00:00:00.000Z', 'keyCompromise');
        const serials = async (f: CertificateFilter) => (await s.listCertificates(f)).map((c) => c.serialNumber).sort();

        expect(await serials({ status: 'valid', asOf })).toEqual(['12', '13', '14']);
        expect(await serials({ status: 'expired', asOf })).toEqual(['11']);
        expect(await serials({ status: 'revoked', asOf })).toEqual(['15', '16']);
        // A year later everything unrevoked has expired.
        expect(await serials({ status: 'expired', asOf: '2028-01-01T00:00:00.000Z' })).toEqual(['11', '12', '13', '14']);
        expect(await serials({ status: 'valid', asOf, notAfterUntil: '2026-06-11T00:00:00.000Z' })).toEqual(['12', '13']);
        expect(await serials({ deviceIds: ['d2', 'd3'] })).toEqual(['13', '14', '15', '16']);
        expect(await serials({ deviceIds: [] })).toEqual([]);
        expect(await serials({ deviceIds: ['d1'], status: 'valid', asOf })).toEqual(['12']);

        expect(await s.countCertificates({ asOf })).toEqual({ valid: 3, revoked: 2, expired: 1 });
        expect(await s.countCertificates({ asOf, deviceIds: ['d1'] })).toEqual({ valid: 1, revoked: 0, expired: 1 });
        expect(await s.countCertificates({ asOf, deviceIds: [] })).toEqual({ valid: 0, revoked: 0, expired: 0 });
        // More device ids than one statement may bind: counted in chunks, none lost.
        const many = [...Array.from({ length: 1200 }, (_, i) => `other-${i}`), 'd2', 'd3'];
        expect(await s.countCertificates({ asOf, deviceIds: many })).toEqual({ valid: 2, revoked: 2, expired: 0 });
        await expect(s.listCertificates({ status: 'valid', asOf: 'yesterday' })).rejects.toThrow(RangeError);
      });

      it('pages in list order from a position, stable under inserts', async () => {
        for (const serial of ['21', '22', '23', '24', '25', '26', '27']) {
          await s.recordEnrollment(null, enrollment(`tx-${serial}`), certificate(serial));
        }
        const all = await s.listCertificates();
        const seen: string[] = [];
        let after: CertificatePosition | undefined;
        for (let page = 0; page < 10; page++) {
          const rows = await s.listCertificates({ limit: 3, ...(after && { after }) });
          if (rows.length === 0) break;
          expect(rows.length).toBeLessThanOrEqual(3);
          seen.push(...rows.map((c) => c.serialNumber));
          const last = rows[rows.length - 1]!;
          after = { issuedAt: last.issuedAt, serialNumber: last.serialNumber };
          // A certificate issued between two page reads comes after every position already handed out.
          if (page === 0) await s.recordEnrollment(null, enrollment('tx-28'), certificate('28'));
        }
        expect(seen).toEqual([...all.map((c) => c.serialNumber), '28']);
        await expect(s.listCertificates({ limit: 0 })).rejects.toThrow(RangeError);
        await expect(s.listCertificates({ limit: 10_001 })).rejects.toThrow(RangeError);
      });

      it('revokes once, with its reason, and keeps the first revocation', async () => {
        await s.recordEnrollment(null, enrollment('tx-1'), certificate('01'));
        await s.recordEnrollment(null, enrollment('tx-2'), certificate('02'));
        expect(await s.getCertificate('01')).toMatchObject({ revokedAt: null, revocationReason: null, renewalOf: null });
        expect(await s.revokeCertificateChain('01', '2026-03-01T10:00:00.000Z', 'keyCompromise')).toEqual({ ok: true, revoked: ['01'] });
        expect(await s.revokeCertificateChain('01', '2026-04-01T10:00:00.000Z', 'superseded')).toEqual({ ok: false, reason: 'already-revoked' });
        expect(await s.getCertificate('01')).toMatchObject({ revokedAt: '2026-03-01T10:00:00.000Z', revocationReason: 'keyCompromise' });
        expect(await s.getCertificate('02')).toMatchObject({ revokedAt: null, revocationReason: null });
        expect(await s.revokeCertificateChain('99', '2026-03-01T10:00:00.000Z', 'unspecified')).toEqual({ ok: false, reason: 'not-found' });
      });

      it('records the signing CA, and gives legacy rows (no issuer) the one CA there was', async () => {
        await s.recordEnrollment(null, enrollment('tx-1'), certificate('01', { issuerId: 'aa01' }));
        await s.recordEnrollment(null, enrollment('tx-2'), certificate('02'));
        await s.recordEnrollment(null, enrollment('tx-3'), certificate('03', { issuerId: null }));
        expect((await s.getCertificate('01'))?.issuerId).toBe('aa01');
        expect((await s.getCertificate('02'))?.issuerId).toBeNull();
        expect(await s.assignLegacyIssuer('bb02')).toBe(2);
        expect((await s.getCertificate('01'))?.issuerId).toBe('aa01');
        expect((await s.getCertificate('02'))?.issuerId).toBe('bb02');
        expect((await s.getCertificate('03'))?.issuerId).toBe('bb02');
        expect(await s.assignLegacyIssuer('cc03')).toBe(0);
      });

      it('lists the revoked certificates of one CA, with time and reason, for its CRL', async () => {
        const rows: Array<[string, string | null]> = [['01', 'aa01'], ['02', 'aa01'], ['03', 'bb02'], ['04', 'aa01'], ['05', null]];
        for (const [serial, issuerId] of rows) await s.recordEnrollment(null, enrollment(`tx-${serial}`), certificate(serial, { issuerId }));
        expect(await s.listRevoked('aa01')).toEqual([]);
        expect(await s.revokedSetState('aa01')).toEqual({ count: 0, latest: null });

        await s.revokeCertificateChain('04', '2026-03-02T00:00:00.000Z', 'keyCompromise');
        await s.revokeCertificateChain('01', '2026-03-01T00:00:00.000Z', 'unspecified');
        await s.revokeCertificateChain('03', '2026-03-05T00:00:00.000Z', 'superseded');
        await s.revokeCertificateChain('05', '2026-03-06T00:00:00.000Z', 'superseded');
        expect(await s.listRevoked('aa01')).toEqual([
          { serialNumber: '01', revokedAt: '2026-03-01T00:00:00.000Z', reason: 'unspecified' },
          { serialNumber: '04', revokedAt: '2026-03-02T00:00:00.000Z', reason: 'keyCompromise' },
        ]);
        expect(await s.listRevoked('bb02')).toEqual([{ serialNumber: '03', revokedAt: '2026-03-05T00:00:00.000Z', reason: 'superseded' }]);
        expect(await s.listRevoked('AA01')).toEqual([]);
        expect(await s.revokedSetState('aa01')).toEqual({ count: 2, latest: '2026-03-02T00:00:00.000Z' });
        expect(await s.revokedSetState('bb02')).toEqual({ count: 1, latest: '2026-03-05T00:00:00.000Z' });
        expect(await s.revokedSetState('cc03')).toEqual({ count: 0, latest: null });

        // A revocation back-dated before the newest one still changes the state (the count).
        const before = await s.revokedSetState('aa01');
        await s.revokeCertificateChain('02', '2026-01-01T00:00:00.000Z', 'affiliationChanged');
        expect(await s.revokedSetState('aa01')).not.toEqual(before);
        expect(await s.revokedSetState('aa01')).toEqual({ count: 3, latest: '2026-03-02T00:00:00.000Z' });
        // A legacy row given its issuer joins that CA's set.
        await s.assignLegacyIssuer('bb02');
        expect((await s.listRevoked('bb02')).map((e) => e.serialNumber)).toEqual(['03', '05']);
      });

      it('hands out CRL Numbers per CA that only grow, also under concurrency', async () => {
        expect(await s.nextCrlNumber('aa01')).toBe(1);
        expect(await s.nextCrlNumber('aa01')).toBe(2);
        expect(await s.nextCrlNumber('bb02')).toBe(1);
        const concurrent = await Promise.all(Array.from({ length: 8 }, () => s.nextCrlNumber('aa01')));
        expect([...concurrent].sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
        expect(await s.nextCrlNumber('bb02')).toBe(2);
      });

      it('tells the last expiry of what a CA signed, revoked certificates included (CA rollover)', async () => {
        expect(await s.lastExpiryByIssuer('aa01')).toBeNull();
        await s.recordEnrollment(null, enrollment('tx-1'), certificate('01', { issuerId: 'aa01', notAfter: '2027-01-01T00:00:00.000Z' }));
        await s.recordEnrollment(null, enrollment('tx-2'), certificate('02', { issuerId: 'aa01', notAfter: '2028-06-01T00:00:00.000Z' }));
        await s.recordEnrollment(null, enrollment('tx-3'), certificate('03', { issuerId: 'bb02', notAfter: '2030-01-01T00:00:00.000Z' }));
        expect(await s.revokeCertificateChain('02', '2026-03-01T00:00:00.000Z', 'superseded')).toMatchObject({ ok: true });
        expect(await s.lastExpiryByIssuer('aa01')).toBe('2028-06-01T00:00:00.000Z');
        expect(await s.lastExpiryByIssuer('bb02')).toBe('2030-01-01T00:00:00.000Z');
        expect(await s.lastExpiryByIssuer('cc03')).toBeNull();
      });

      it('revokes every renewal of a certificate, transitively, and nothing else', async () => {
        // 01 <- 02 <- 03 and 01 <- 04 (renewals), 05 unrelated, 03 <- 06 <- 07 where 06 was revoked on its own before
        const chain: Array<[string, string | null]> = [['01', null], ['02', '01'], ['03', '02'], ['04', '01'], ['05', null], ['06', '03'], ['07', '06']];
        for (const [serial, renewalOf] of chain) {
          expect(await s.recordEnrollment(null, enrollment(`tx-${serial}`, { renewalOf }), certificate(serial, { renewalOf }))).toEqual({ ok: true });
        }
        expect(await s.getEnrollment('tx-02')).toMatchObject({ renewalOf: '01' });
        expect(await s.getCertificate('03')).toMatchObject({ renewalOf: '02' });
        expect(await s.revokeCertificateChain('06', '2026-02-01T00:00:00.000Z', 'superseded')).toEqual({ ok: true, revoked: ['06', '07'] });

        // 06 keeps its own time and reason; the walk goes through it (07 was already revoked with it).
        expect(await s.revokeCertificateChain('02', '2026-03-01T00:00:00.000Z', 'keyCompromise')).toEqual({ ok: true, revoked: ['02', '03'] });
        expect(await s.getCertificate('03')).toMatchObject({ revokedAt: '2026-03-01T00:00:00.000Z', revocationReason: 'keyCompromise' });
        expect(await s.getCertificate('06')).toMatchObject({ revokedAt: '2026-02-01T00:00:00.000Z', revocationReason: 'superseded' });
        for (const serial of ['01', '04', '05']) expect((await s.getCertificate(serial))?.revokedAt).toBeNull();

        expect(await s.revokeCertificateChain('01', '2026-04-01T00:00:00.000Z', 'unspecified')).toEqual({ ok: true, revoked: ['01', '04'] });
        expect((await s.getCertificate('05'))?.revokedAt).toBeNull();
      });

      it('does not record a renewal of a revoked or unknown certificate', async () => {
        await s.recordEnrollment(null, enrollment('tx-1'), certificate('01'));
        await s.revokeCertificateChain('01', '2026-03-01T00:00:00.000Z', 'unspecified');
        expect(await s.recordEnrollment(null, enrollment('tx-2', { renewalOf: '01' }), certificate('02', { renewalOf: '01' }))).toEqual({
          ok: false,
          reason: 'predecessor-revoked',
        });
        expect(await s.recordEnrollment(null, enrollment('tx-3'), certificate('03', { renewalOf: 'ff' }))).toEqual({ ok: false, reason: 'predecessor-revoked' });
        expect(await s.getEnrollment('tx-2')).toBeNull();
        expect(await s.getCertificate('02')).toBeNull();
        expect(await s.getCertificate('03')).toBeNull();
      });

      it('a pending renewal whose predecessor was revoked meanwhile cannot be completed', async () => {
        await s.recordEnrollment(null, enrollment('tx-1'), certificate('01'));
        expect(await s.recordEnrollment(null, enrollment('tx-2', { status: 'pending', renewalOf: '01' }), null)).toEqual({ ok: true });
        await s.revokeCertificateChain('01', '2026-03-01T00:00:00.000Z', 'unspecified');
        await expectStorageError(s.completeEnrollment('tx-2', certificate('02')), 'conflict');
        expect(await s.getEnrollment('tx-2')).toMatchObject({ status: 'pending', certificateSerial: null });
        expect(await s.getCertificate('02')).toBeNull();
      });

      it('completing a pending renewal records what it renews', async () => {
        await s.recordEnrollment(null, enrollment('tx-1'), certificate('01'));
        await s.recordEnrollment(null, enrollment('tx-2', { status: 'pending', renewalOf: '01' }), null);
        expect(await s.completeEnrollment('tx-2', certificate('02'))).toBe(true);
        expect(await s.getCertificate('02')).toMatchObject({ renewalOf: '01' });
        expect(await s.revokeCertificateChain('01', '2026-03-01T00:00:00.000Z', 'unspecified')).toEqual({ ok: true, revoked: ['01', '02'] });
      });

      it('revokeCertificate revokes that one certificate only: its renewal lives on', async () => {
        // 01 <- 02 <- 03: the predecessor superseded by its renewal
        for (const [serial, renewalOf] of [['01', null], ['02', '01'], ['03', '02']] as Array<[string, string | null]>) {
          await s.recordEnrollment(null, enrollment(`tx-${serial}`, { renewalOf }), certificate(serial, { renewalOf }));
        }
        expect(await s.revokeCertificate('02', '2026-03-01T00:00:00+01:00', 'superseded')).toEqual({ ok: true, revoked: ['02'] });
        expect(await s.getCertificate('02')).toMatchObject({ revokedAt: '2026-02-28T23:00:00.000Z', revocationReason: 'superseded' });
        for (const serial of ['01', '03']) expect(await s.getCertificate(serial)).toMatchObject({ revokedAt: null, revocationReason: null });
        expect(await s.revokeCertificate('02', '2026-04-01T00:00:00.000Z', 'keyCompromise')).toEqual({ ok: false, reason: 'already-revoked' });
        expect(await s.getCertificate('02')).toMatchObject({ revocationReason: 'superseded' });
        expect(await s.revokeCertificate('99', '2026-04-01T00:00:00.000Z', 'superseded')).toEqual({ ok: false, reason: 'not-found' });
        await expect(s.revokeCertificate('01', 'yesterday', 'superseded')).rejects.toThrow(RangeError);
        expect((await s.getCertificate('01'))?.revokedAt).toBeNull();
      });

      it('an identity challenge noted as a renewal records renewalOf on what it issues, and is refused once that was revoked', async () => {
        await s.recordEnrollment(null, enrollment('tx-1', { kind: 'identity' }), certificate('01', { kind: 'identity' }));
        await s.noteIdentityRenewalChallenge('ch-renew', '01', '2030-01-01T00:00:00.000Z');
        expect(await s.recordEnrollment(challenge('ch-renew'), enrollment('tx-2', { kind: 'identity' }), certificate('02', { kind: 'identity' }))).toEqual({ ok: true });
        expect(await s.getEnrollment('tx-2')).toMatchObject({ renewalOf: '01' });
        expect(await s.getCertificate('02')).toMatchObject({ renewalOf: '01' });
        // Another challenge is no renewal.
        expect(await s.recordEnrollment(challenge('ch-plain'), enrollment('tx-3', { kind: 'identity' }), certificate('03', { kind: 'identity' }))).toEqual({ ok: true });
        expect(await s.getCertificate('03')).toMatchObject({ renewalOf: null });
        // The renewed certificate revoked before the challenge is spent: nothing recorded, the challenge unspent.
        await s.noteIdentityRenewalChallenge('ch-late', '03', '2030-01-01T00:00:00.000Z');
        await s.revokeCertificate('03', '2026-03-01T00:00:00.000Z', 'keyCompromise');
        expect(await s.recordEnrollment(challenge('ch-late'), enrollment('tx-4', { kind: 'identity' }), certificate('04', { kind: 'identity' }))).toEqual({
          ok: false,
          reason: 'predecessor-revoked',
        });
        expect(await s.getCertificate('04')).toBeNull();
        expect(await s.isChallengeUsed('ch-late')).toBe(false);
      });

      it('normalises timestamps to toISOString form', async () => {
        await s.recordEnrollment(
          null,
          enrollment('tx-1'),
          certificate('01', { notBefore: '2026-01-01T01:00:00+01:00', notAfter: '2027-01-01T00:00:00Z' }),
        );
        await s.revokeCertificateChain('01', '2026-05-05T05:05:05Z', 'unspecified');
        const c = await s.getCertificate('01');
        expect(c?.notBefore).toBe('2026-01-01T00:00:00.000Z');
        expect(c?.notAfter).toBe('2027-01-01T00:00:00.000Z');
        expect(c?.revokedAt).toBe('2026-05-05T05:05:05.000Z');
        await expect(s.revokeCertificateChain('01', 'yesterday', 'unspecified')).rejects.toThrow(RangeError);
      });
    });

    // ---- used challenges ----------------------------------------------------------------

    describe('purgeExpiredChallenges', () => {
      it('deletes only used-challenge records that expired before now', async () => {
        await s.recordEnrollment(challenge('old', '2026-01-01T00:00:00.000Z'), enrollment('t-old'), certificate('01'));
        await s.recordEnrollment(challenge('edge', '2026-02-01T00:00:00.000Z'), enrollment('t-edge'), certificate('02'));
        await s.recordEnrollment(challenge('new', '2026-03-01T00:00:00.000Z'), enrollment('t-new'), certificate('03'));

        expect(await s.purgeExpiredChallenges('2025-12-31T00:00:00.000Z')).toBe(0);
        expect(await s.purgeExpiredChallenges('2026-02-01T00:00:00.000Z')).toBe(1); // 'edge' expires exactly now: kept
        expect(await s.isChallengeUsed('old')).toBe(false);
        expect(await s.isChallengeUsed('edge')).toBe(true);
        expect(await s.isChallengeUsed('new')).toBe(true);
        expect(await s.purgeExpiredChallenges('2026-02-01T00:00:00.000Z')).toBe(0);
        // Compared as instants, not as text: +01:00 is 23:00Z the day before the 'new' expiry.
        expect(await s.purgeExpiredChallenges('2026-03-01T00:00:00+01:00')).toBe(1);
        expect(await s.isChallengeUsed('edge')).toBe(false);
        expect(await s.isChallengeUsed('new')).toBe(true);
        // Enrollments and certificates are not touched.
        expect(await s.getEnrollment('t-old')).not.toBeNull();
        // Renewal links of expired identity challenges go too: a link past its challenge's expiry no longer applies.
        await s.recordEnrollment(null, enrollment('t-id', { kind: 'identity' }), certificate('10', { kind: 'identity' }));
        await s.noteIdentityRenewalChallenge('link-old', '10', '2026-02-15T00:00:00.000Z');
        await s.noteIdentityRenewalChallenge('link-new', '10', '2026-04-01T00:00:00.000Z');
        await s.purgeExpiredChallenges('2026-03-01T00:00:00.000Z');
        expect(await s.recordEnrollment(challenge('link-old'), enrollment('t-link-old', { kind: 'identity' }), certificate('11', { kind: 'identity' }))).toEqual({ ok: true });
        expect(await s.recordEnrollment(challenge('link-new'), enrollment('t-link-new', { kind: 'identity' }), certificate('12', { kind: 'identity' }))).toEqual({ ok: true });
        expect((await s.getCertificate('11'))?.renewalOf).toBeNull();
        expect((await s.getCertificate('12'))?.renewalOf).toBe('10');
        expect(await s.listCertificates()).toHaveLength(6);
      });
    });

    // ---- audit ----------------------------------------------------------------------------

    describe('audit', () => {
      it('appends and lists in order with defaults', async () => {
        await s.appendAudit({ transactionId: 'tx-1', type: 'scep.received', reasonCode: null, actor: 'scep', details: { size: 1234 } });
        await s.appendAudit({
          transactionId: 'tx-1',
          type: 'crp.check.failed',
          reasonCode: 'CHALLENGE_MALFORMED',
          actor: 'scep',
          details: { nested: { list: [1, 'two', true, null] }, ok: false },
          at: '2020-01-01T00:00:00Z',
        });
        await s.appendAudit({ transactionId: null, type: 'admin.profile.created', reasonCode: null, actor: 'admin', details: {} });

        const all = await s.listAudit();
        expect(all.map((e) => e.type)).toEqual(['scep.received', 'crp.check.failed', 'admin.profile.created']);
        expect(all[0]!.id).toBeTypeOf('number');
        expect(all[0]!.id).toBeLessThan(all[1]!.id);
        expect(all[1]!.id).toBeLessThan(all[2]!.id);
        expect(isIso(all[0]!.at)).toBe(true);
        // Append order, not timestamp order: the explicit old `at` stays second.
        expect(all[1]!.at).toBe('2020-01-01T00:00:00.000Z');
        expect(all[0]).toMatchObject({ transactionId: 'tx-1', reasonCode: null, actor: 'scep', details: { size: 1234 } });
        expect(all[1]).toMatchObject({
          reasonCode: 'CHALLENGE_MALFORMED',
          details: { nested: { list: [1, 'two', true, null] }, ok: false },
        });
        expect(all[2]).toMatchObject({ transactionId: null, actor: 'admin', details: {} });
      });

      it('bounds what it stores: long strings, lists and whole details are cut with a visible marker', async () => {
        await s.appendAudit({
          transactionId: 't'.repeat(1000),
          type: 'windows.enrollment.refused',
          reasonCode: 'ENROLLMENT_TOKEN_INVALID',
          actor: 'a'.repeat(300),
          details: { upn: 'u'.repeat(500_000), list: Array.from({ length: 1000 }, (_, i) => i) },
        });
        await s.appendAudit({ transactionId: null, type: 'x', reasonCode: null, actor: null, details: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, 'y'.repeat(500)])) });
        const [first, second] = await s.listAudit();
        expect(first!.transactionId).toBe(`${'t'.repeat(256)}…(truncated, 1000 bytes)`);
        expect(first!.actor).toBe(`${'a'.repeat(256)}…(truncated, 300 bytes)`);
        expect(first!.details.upn).toBe(`${'u'.repeat(512)}…(truncated, 500000 bytes)`);
        expect(first!.details.list).toHaveLength(33);
        expect(Buffer.byteLength(JSON.stringify(first!.details))).toBeLessThan(2048);
        expect(second!.details).toMatchObject({ truncated: true });
        expect(Buffer.byteLength(JSON.stringify(second!.details))).toBeLessThanOrEqual(8 * 1024);
      });

      it('purgeAudit deletes events older than the given time, and only those', async () => {
        await s.appendAudit({ transactionId: null, type: 'old', reasonCode: null, actor: null, details: {}, at: '2020-01-01T00:00:00Z' });
        await s.appendAudit({ transactionId: null, type: 'edge', reasonCode: null, actor: null, details: {}, at: '2020-02-01T00:00:00Z' });
        await s.appendAudit({ transactionId: null, type: 'new', reasonCode: null, actor: null, details: {} });
        expect(await s.purgeAudit('2020-02-01T00:00:00Z')).toBe(1);
        expect((await s.listAudit()).map((e) => e.type)).toEqual(['edge', 'new']);
        expect(await s.purgeAudit('2020-02-01T00:00:00.001Z')).toBe(1);
        expect((await s.listAudit()).map((e) => e.type)).toEqual(['new']);
        await expect(s.purgeAudit('not a time')).rejects.toThrow(RangeError);
      });

      it('filters by transaction and type, and limits to the newest events', async () => {
        for (let i = 0; i < 6; i++) {
          await s.appendAudit({
            transactionId: i % 2 === 0 ? 'tx-even' : 'tx-odd',
            type: i < 3 ? 'scep.received' : 'ca.issued',
            reasonCode: null,
            actor: 'scep',
            details: { i },
          });
        }
        const idx = (list: { details: Record<string, unknown> }[]) => list.map((e) => e.details['i']);
        expect(idx(await s.listAudit({ transactionId: 'tx-even' }))).toEqual([0, 2, 4]);
        expect(idx(await s.listAudit({ type: 'ca.issued' }))).toEqual([3, 4, 5]);
        expect(idx(await s.listAudit({ transactionId: 'tx-odd', type: 'scep.received' }))).toEqual([1]);
        expect(idx(await s.listAudit({ limit: 2 }))).toEqual([4, 5]);
        expect(idx(await s.listAudit({ transactionId: 'tx-even', limit: 2 }))).toEqual([2, 4]);
        expect(idx(await s.listAudit({ limit: 100 }))).toEqual([0, 1, 2, 3, 4, 5]);
        expect(await s.listAudit({ limit: 0 })).toEqual([]);
        expect(await s.listAudit({ transactionId: 'none' })).toEqual([]);
      });
    });

    describe('group members and devices of a user', () => {
      it('list a group\'s direct members and a user\'s devices', async () => {
        const u = await s.createUser({ userPrincipalName: 'm@x', email: 'm@x', displayName: 'M' });
        const d1 = await s.createDevice({ name: 'd1', platform: 'ios', userId: u.id });
        const d2 = await s.createDevice({ name: 'd2', platform: 'android' });
        const g = await s.createGroup('g');
        await s.addGroupMember(g.id, { userId: u.id });
        await s.addGroupMember(g.id, { deviceId: d2.id });
        expect(await s.listGroupMembers(g.id)).toEqual([{ userId: u.id }, { deviceId: d2.id }]);
        expect(await s.listGroupMembers('00000000-0000-4000-8000-000000000000')).toEqual([]);
        expect((await s.listDevicesOfUser(u.id)).map((d) => d.id)).toEqual([d1.id]);
        expect(await s.listDevicesOfUser('nobody')).toEqual([]);
      });
    });

    // ---- adapter support --------------------------------------------------------------

    describe('enrollment tokens', () => {
      const sha = (c: string) => c.repeat(64);
      it('spend once, for their platform, before expiry; say why otherwise', async () => {
        const t = await s.createEnrollmentToken({ tokenSha256: sha('a'), platform: 'ios', userId: 'u-1', deviceId: null, expiresAt: '2030-01-01T00:00:00.000Z' });
        expect(t).toMatchObject({ platform: 'ios', userId: 'u-1', usedAt: null });
        expect(await s.consumeEnrollmentToken(sha('a'), 'android', '2029-01-01T00:00:00.000Z')).toEqual({ ok: false, reason: 'wrong-platform' });
        // Peeking says what consuming would, and spends nothing.
        expect(await s.peekEnrollmentToken(sha('a'), 'ios', '2029-01-01T00:00:00.000Z')).toMatchObject({ ok: true, token: { id: t.id } });
        expect(await s.peekEnrollmentToken(sha('a'), 'ios', '2031-01-01T00:00:00.000Z')).toEqual({ ok: false, reason: 'expired' });
        expect(await s.peekEnrollmentToken(sha('a'), 'android', '2029-01-01T00:00:00.000Z')).toEqual({ ok: false, reason: 'wrong-platform' });
        expect(await s.consumeEnrollmentToken(sha('a'), 'ios', '2031-01-01T00:00:00.000Z')).toEqual({ ok: false, reason: 'expired' });
        const ok = await s.consumeEnrollmentToken(sha('a'), 'ios', '2029-01-01T00:00:00.000Z');
        expect(ok.ok && ok.token.id).toBe(t.id);
        expect(await s.consumeEnrollmentToken(sha('a'), 'ios', '2029-01-01T00:00:01.000Z')).toEqual({ ok: false, reason: 'used' });
        expect(await s.peekEnrollmentToken(sha('a'), 'ios', '2029-01-01T00:00:01.000Z')).toEqual({ ok: false, reason: 'used' });
        expect(await s.consumeEnrollmentToken(sha('b'), 'ios', '2029-01-01T00:00:00.000Z')).toEqual({ ok: false, reason: 'unknown' });
      });

      it('let exactly one of 20 concurrent spends win', async () => {
        await s.createEnrollmentToken({ tokenSha256: sha('c'), platform: 'windows', userId: null, deviceId: null, expiresAt: '2030-01-01T00:00:00.000Z' });
        const results = await Promise.all(Array.from({ length: 20 }, () => s.consumeEnrollmentToken(sha('c'), 'windows', '2029-01-01T00:00:00.000Z')));
        expect(results.filter((r) => r.ok)).toHaveLength(1);
      });
    });

    describe('device commands', () => {
      it('queue per channel, one in flight, NotNow offered again, answers recorded', async () => {
        const d = await s.createDevice({ name: 'mac', platform: 'macos' });
        const cmd = (kind: string, channel = 'device') => s.enqueueCommand({ deviceId: d.id, channel, kind, payload: { kind }, profileId: null, profileVersion: null });
        const a = await cmd('InstallProfile');
        const b = await cmd('ProfileList');
        const u = await cmd('InstallProfile', 'user:501');
        expect(a.status).toBe('queued');

        const first = await s.nextCommand(d.id, 'device');
        expect(first).toMatchObject({ id: a.id, status: 'sent', payload: { kind: 'InstallProfile' } });
        // Unanswered: offered again before anything else.
        expect((await s.nextCommand(d.id, 'device'))?.id).toBe(a.id);
        expect((await s.nextCommand(d.id, 'device', [a.id]))?.id).toBe(b.id);

        expect(await s.updateCommand(a.id, d.id, 'notnow', null)).toMatchObject({ status: 'notnow' });
        expect(await s.updateCommand(b.id, d.id, 'acknowledged', { Status: 'Acknowledged' })).toMatchObject({ result: { Status: 'Acknowledged' } });
        expect((await s.nextCommand(d.id, 'device'))?.id).toBe(a.id);
        expect(await s.updateCommand(a.id, d.id, 'error', { ErrorChain: [{ ErrorCode: 4001 }] })).toMatchObject({ status: 'error' });
        expect(await s.nextCommand(d.id, 'device')).toBeNull();
        expect((await s.nextCommand(d.id, 'user:501'))?.id).toBe(u.id);

        expect(await s.updateCommand(a.id, 'someone-else', 'acknowledged', null)).toBeNull();
        expect((await s.listCommands({ deviceId: d.id })).map((c) => c.status)).toEqual(['error', 'acknowledged', 'sent']);
        expect(await s.listCommands({ deviceId: d.id, status: 'acknowledged' })).toHaveLength(1);
        await expectStorageError(s.enqueueCommand({ deviceId: '00000000-0000-4000-8000-000000000000', channel: 'device', kind: 'x', payload: {}, profileId: null, profileVersion: null }), 'not-found');
      });
    });

    describe('purgeAnsweredCommands', () => {
      it('deletes answered commands past their age or beyond the newest per device; never queued, sent or NotNow ones', async () => {
        const d1 = await s.createDevice({ name: 'mac-1', platform: 'macos' });
        const d2 = await s.createDevice({ name: 'mac-2', platform: 'macos' });
        const cmd = (deviceId: string, kind: string) => s.enqueueCommand({ deviceId, channel: 'device', kind, payload: {}, profileId: null, profileVersion: null });
        const answered: string[] = [];
        for (let i = 0; i < 5; i++) {
          const c = await cmd(d1.id, `A${i}`);
          await s.updateCommand(c.id, d1.id, (['acknowledged', 'error', 'formaterror', 'cancelled', 'acknowledged'] as const)[i]!, null);
          answered.push(c.id);
        }
        const queued = await cmd(d1.id, 'Q');
        const notNow = await cmd(d1.id, 'N');
        await s.updateCommand(notNow.id, d1.id, 'notnow', null);
        const sent = await cmd(d1.id, 'S');
        await s.nextCommand(d1.id, 'device', [queued.id, notNow.id]);
        const other = await cmd(d2.id, 'B');
        await s.updateCommand(other.id, d2.id, 'acknowledged', null);
        const past = '2000-01-01T00:00:00Z';

        // Keep the newest 2 answered of each device: 3 of d1's go, d2's one stays.
        expect(await s.purgeAnsweredCommands(past, 2)).toBe(3);
        expect((await s.listCommands({ deviceId: d1.id })).map((c) => c.id)).toEqual([answered[3], answered[4], queued.id, notNow.id, sent.id]);
        expect(await s.purgeAnsweredCommands(past, 2)).toBe(0);
        // Everything answered before `before` goes, whatever the count.
        expect(await s.purgeAnsweredCommands(new Date(Date.now() + 60_000).toISOString(), 100)).toBe(3);
        expect((await s.listCommands({ deviceId: d1.id })).map((c) => c.status)).toEqual(['queued', 'notnow', 'sent']);
        expect(await s.listCommands({ deviceId: d2.id })).toEqual([]);
        await expect(s.purgeAnsweredCommands(past, -1)).rejects.toThrow(RangeError);
      });
    });

    describe('upstream requests (enrollments an upstream CA left PENDING)', () => {
      const at = (m: number) => new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString();
      const req = (t: string, next: string) => ({ transactionId: t, upstream: 'corp-ca', state: { upstreamTransactionId: `u-${t}` }, createdAt: at(0), nextPollAt: next });

      it('lists only what is due, oldest first, at most limit', async () => {
        await s.addUpstreamRequest(req('tx-b', at(5)));
        await s.addUpstreamRequest(req('tx-a', at(2)));
        await s.addUpstreamRequest(req('tx-later', at(30)));
        const due = await s.listDueUpstreamRequests(at(10), 10);
        expect(due.map((r) => r.transactionId)).toEqual(['tx-a', 'tx-b']);
        expect(due[0]).toEqual({ transactionId: 'tx-a', upstream: 'corp-ca', state: { upstreamTransactionId: 'u-tx-a' }, createdAt: at(0), nextPollAt: at(2), attempts: 0, lastError: null });
        expect((await s.listDueUpstreamRequests(at(10), 1)).map((r) => r.transactionId)).toEqual(['tx-a']);
        expect(await s.listDueUpstreamRequests(at(1), 10)).toEqual([]);
      });

      it('reschedules (counting attempts, keeping the last error) and removes', async () => {
        await s.addUpstreamRequest(req('tx-1', at(1)));
        await s.rescheduleUpstreamRequest('tx-1', at(20), 'connection refused');
        expect(await s.listDueUpstreamRequests(at(10), 10)).toEqual([]);
        await s.rescheduleUpstreamRequest('tx-1', at(20), null);
        const [r] = await s.listDueUpstreamRequests(at(20), 10);
        expect(r).toMatchObject({ transactionId: 'tx-1', attempts: 2, lastError: null, nextPollAt: at(20) });
        await s.removeUpstreamRequest('tx-1');
        expect(await s.listDueUpstreamRequests(at(60), 10)).toEqual([]);
      });

      it('a second request for the same transaction replaces the first', async () => {
        await s.addUpstreamRequest(req('tx-1', at(1)));
        await s.rescheduleUpstreamRequest('tx-1', at(2), 'timeout');
        await s.addUpstreamRequest({ ...req('tx-1', at(3)), state: { upstreamTransactionId: 'second' } });
        const all = await s.listDueUpstreamRequests(at(60), 10);
        expect(all).toHaveLength(1);
        expect(all[0]).toMatchObject({ state: { upstreamTransactionId: 'second' }, attempts: 0, lastError: null, nextPollAt: at(3) });
      });
    });

    describe('platform state and settings', () => {
      it('store JSON per device and adapter, and replace it', async () => {
        const d = await s.createDevice({ name: 'phone', platform: 'ios' });
        expect(await s.getPlatformState(d.id, 'apple')).toBeNull();
        await s.putPlatformState(d.id, 'apple', { token: 'abc', pushMagic: 'm', nested: { ok: true } });
        await s.putPlatformState(d.id, 'apple', { token: 'def' });
        expect(await s.getPlatformState(d.id, 'apple')).toEqual({ token: 'def' });
        expect(await s.getPlatformState(d.id, 'windows')).toBeNull();
        await expectStorageError(s.putPlatformState('00000000-0000-4000-8000-000000000000', 'apple', {}), 'not-found');
        expect(await s.getSetting('apple.push')).toBeNull();
        await s.putSetting('apple.push', 'one');
        await s.putSetting('apple.push', 'two');
        expect(await s.getSetting('apple.push')).toBe('two');
      });
    });

    // ---- lifecycle: revocation triggers (docs/lifecycle.md) ----------------------------

    describe('lifecycle triggers', () => {
      it('updateUser: edits fields; disabling revokes the user\'s profile certificates and renewals once; re-enabling un-revokes nothing', async () => {
        const u = await s.createUser({ userPrincipalName: 'u@x', email: 'u@x', displayName: 'U' });
        const other = await s.createUser({ userPrincipalName: 'o@x', email: 'o@x', displayName: 'O' });
        expect(u).toMatchObject({ enabled: true, disabledAt: null });
        await s.recordEnrollment(null, enrollment('tx-u1', { userId: u.id }), certificate('11', { userId: u.id }));
        await s.recordEnrollment(null, enrollment('tx-u2', { renewalOf: '11' }), certificate('12', { renewalOf: '11' }));
        await s.recordEnrollment(null, enrollment('tx-u3', { userId: other.id }), certificate('13', { userId: other.id }));

        const edited = await s.updateUser(u.id, { displayName: 'Ada', attributes: { k: 'v' } }, '2026-03-01T00:00:00Z', 'affiliationChanged');
        expect(edited).toEqual({ ok: true, user: { ...u, displayName: 'Ada', attributes: { k: 'v' } }, revoked: [] });
        expect((await s.getCertificate('11'))?.revokedAt).toBeNull();

        const disabled = await s.updateUser(u.id, { enabled: false }, '2026-03-02T00:00:00Z', 'affiliationChanged');
        expect(disabled).toEqual({ ok: true, user: { ...u, displayName: 'Ada', attributes: { k: 'v' }, enabled: false, disabledAt: '2026-03-02T00:00:00.000Z' }, revoked: ['11', '12'] });
        expect(await s.getCertificate('12')).toMatchObject({ revokedAt: '2026-03-02T00:00:00.000Z', revocationReason: 'affiliationChanged' });
        expect((await s.getCertificate('13'))?.revokedAt).toBeNull();

        // refused, writing nothing (the display name stays)
        expect(await s.updateUser(u.id, { enabled: false, displayName: 'Zed' }, '2026-03-03T00:00:00Z', 'affiliationChanged')).toEqual({ ok: false, reason: 'already-disabled' });
        expect(await s.getUser(u.id)).toMatchObject({ displayName: 'Ada', disabledAt: '2026-03-02T00:00:00.000Z' });
        expect(await s.updateUser('no-such-user', { displayName: 'X' }, '2026-03-03T00:00:00Z', 'affiliationChanged')).toEqual({ ok: false, reason: 'not-found' });

        const enabled = await s.updateUser(u.id, { enabled: true }, '2026-03-04T00:00:00Z', 'affiliationChanged');
        expect(enabled).toMatchObject({ ok: true, user: { enabled: true, disabledAt: null }, revoked: [] });
        expect((await s.getCertificate('11'))?.revokedAt).toBe('2026-03-02T00:00:00.000Z');
      });

      it('deleteUser: hides the user, revokes, clears primary user, removes memberships and user assignments', async () => {
        const u = await s.createUser({ userPrincipalName: 'u@x', email: 'u@x', displayName: 'U' });
        const d = await s.createDevice({ name: 'd', platform: 'ios', userId: u.id });
        const g = await s.createGroup('g');
        await s.addGroupMember(g.id, { userId: u.id });
        const p = await s.createProfile(spec({ scope: 'user' }));
        await s.createAssignment(p.id, { userId: u.id });
        const kept = await s.createAssignment(p.id, { groupId: g.id });
        await s.recordEnrollment(null, enrollment('tx-d1', { userId: u.id, deviceId: d.id }), certificate('21', { userId: u.id, deviceId: d.id }));

        const r = await s.deleteUser(u.id, '2026-03-01T00:00:00Z', 'affiliationChanged');
        expect(r).toMatchObject({ ok: true, user: { id: u.id }, revoked: ['21'], devices: [d.id] });
        expect(await s.getUser(u.id)).toBeNull();
        expect((await s.listUsers()).map((x) => x.id)).not.toContain(u.id);
        expect(await s.getDevice(d.id)).toMatchObject({ userId: null });
        expect(await s.listGroupMembers(g.id)).toEqual([]);
        expect((await s.listAssignments()).map((a) => a.id)).toEqual([kept.id]);
        expect(await s.getCertificate('21')).toMatchObject({ userId: u.id, revocationReason: 'affiliationChanged' });
        expect(await s.deleteUser(u.id, '2026-03-02T00:00:00Z', 'affiliationChanged')).toEqual({ ok: false, reason: 'not-found' });
        await expectStorageError(s.addGroupMember(g.id, { userId: u.id }), 'not-found');
        await expectStorageError(s.createAssignment(p.id, { userId: u.id }), 'not-found');
        // the userPrincipalName stays taken
        await expectStorageError(s.createUser({ userPrincipalName: 'u@x', email: 'u@x', displayName: 'U' }), 'conflict');
      });

      it('retireDevice: revokes identity and profile certificates once; the device gets nothing new', async () => {
        const d = await s.createDevice({ name: 'd', platform: 'android' });
        await s.recordEnrollment(null, enrollment('tx-r1', { deviceId: d.id, kind: 'identity' }), certificate('31', { deviceId: d.id, kind: 'identity' }));
        await s.recordEnrollment(null, enrollment('tx-r2', { deviceId: d.id }), certificate('32', { deviceId: d.id }));
        const r = await s.retireDevice(d.id, '2026-03-01T00:00:00Z', 'cessationOfOperation');
        expect(r).toEqual({ ok: true, device: { ...d, retiredAt: '2026-03-01T00:00:00.000Z' }, revoked: ['31', '32'] });
        expect(await s.getDevice(d.id)).toMatchObject({ retiredAt: '2026-03-01T00:00:00.000Z' });
        expect(await s.getCertificate('32')).toMatchObject({ revocationReason: 'cessationOfOperation' });
        expect(await s.retireDevice(d.id, '2026-03-02T00:00:00Z', 'cessationOfOperation')).toEqual({ ok: false, reason: 'already-retired' });
        expect(await s.retireDevice('no-such-device', '2026-03-02T00:00:00Z', 'cessationOfOperation')).toEqual({ ok: false, reason: 'not-found' });
        expect(await s.recordEnrollment(null, enrollment('tx-r3', { deviceId: d.id }), certificate('33', { deviceId: d.id }))).toEqual({ ok: false, reason: 'device-blocked' });
        expect(await s.getCertificate('33')).toBeNull();
      });

      it('beginRetireDevice: revokes profile certificates (and renewals) only, refuses new certificates; retireDevice completes it; listRetiringDevices', async () => {
        const d = await s.createDevice({ name: 'd', platform: 'windows' });
        const other = await s.createDevice({ name: 'o', platform: 'windows' });
        expect(d.retiringSince).toBeNull();
        await s.recordEnrollment(null, enrollment('tx-b1', { deviceId: d.id, kind: 'identity' }), certificate('51', { deviceId: d.id, kind: 'identity' }));
        await s.recordEnrollment(null, enrollment('tx-b2', { deviceId: d.id }), certificate('52', { deviceId: d.id }));
        await s.recordEnrollment(null, enrollment('tx-b3', { renewalOf: '52' }), certificate('53', { renewalOf: '52' }));
        const r = await s.beginRetireDevice(d.id, '2026-03-01T00:00:00Z', 'cessationOfOperation');
        expect(r).toEqual({ ok: true, device: { ...d, retiringSince: '2026-03-01T00:00:00.000Z' }, revoked: ['52', '53'] });
        expect(await s.getCertificate('53')).toMatchObject({ revokedAt: '2026-03-01T00:00:00.000Z', revocationReason: 'cessationOfOperation' });
        expect((await s.getCertificate('51'))?.revokedAt).toBeNull();
        expect(await s.getDevice(d.id)).toMatchObject({ retiringSince: '2026-03-01T00:00:00.000Z', retiredAt: null });
        // Refused, writing nothing: twice, unknown.
        expect(await s.beginRetireDevice(d.id, '2026-03-02T00:00:00Z', 'cessationOfOperation')).toEqual({ ok: false, reason: 'already-retiring' });
        expect(await s.beginRetireDevice('no-such-device', '2026-03-02T00:00:00Z', 'cessationOfOperation')).toEqual({ ok: false, reason: 'not-found' });
        expect((await s.getDevice(d.id))?.retiringSince).toBe('2026-03-01T00:00:00.000Z');
        // A retiring device gets no certificate (identity renewal included).
        expect(await s.recordEnrollment(null, enrollment('tx-b4', { deviceId: d.id }), certificate('54', { deviceId: d.id }))).toEqual({ ok: false, reason: 'device-blocked' });
        expect(await s.getCertificate('54')).toBeNull();
        // listRetiringDevices: retiring since strictly before the bound, not the other device.
        expect(await s.listRetiringDevices('2026-03-01T00:00:00Z')).toEqual([]);
        expect((await s.listRetiringDevices('2026-03-01T00:00:00.001Z')).map((x) => x.id)).toEqual([d.id]);
        expect((await s.listRetiringDevices('2026-04-01T00:00:00Z')).map((x) => x.id)).not.toContain(other.id);
        // Completion: the identity goes; the device is retired and no longer listed; retiring again is refused.
        const done = await s.retireDevice(d.id, '2026-03-02T00:00:00Z', 'cessationOfOperation');
        expect(done).toMatchObject({ ok: true, device: { retiringSince: '2026-03-01T00:00:00.000Z', retiredAt: '2026-03-02T00:00:00.000Z' }, revoked: ['51'] });
        expect(await s.listRetiringDevices('2026-04-01T00:00:00Z')).toEqual([]);
        expect(await s.beginRetireDevice(d.id, '2026-03-03T00:00:00Z', 'cessationOfOperation')).toEqual({ ok: false, reason: 'already-retired' });
      });

      it('deleteDevice: revokes, hides the device, keeps its certificates readable, removes memberships, assignments and pending removals', async () => {
        const d = await s.createDevice({ name: 'd', platform: 'windows' });
        const g = await s.createGroup('g');
        await s.addGroupMember(g.id, { deviceId: d.id });
        const p = await s.createProfile(spec());
        await s.createAssignment(p.id, { deviceId: d.id });
        await s.recordEnrollment(null, enrollment('tx-x1', { deviceId: d.id, profileId: p.id }), certificate('41', { deviceId: d.id, profileId: p.id }));
        await s.addPendingRemovals([{ serialNumber: '41', deviceId: d.id, profileId: p.id }], '2026-02-01T00:00:00Z');

        const r = await s.deleteDevice(d.id, '2026-03-01T00:00:00Z', 'cessationOfOperation');
        expect(r).toMatchObject({ ok: true, device: { id: d.id, retiredAt: '2026-03-01T00:00:00.000Z' }, revoked: ['41'] });
        expect(await s.getDevice(d.id)).toBeNull();
        expect((await s.listDevices()).map((x) => x.id)).not.toContain(d.id);
        expect(await s.listCertificates({ deviceId: d.id })).toEqual([expect.objectContaining({ serialNumber: '41', revocationReason: 'cessationOfOperation' })]);
        expect(await s.listGroupMembers(g.id)).toEqual([]);
        expect(await s.listAssignments()).toEqual([]);
        expect(await s.listPendingRemovals()).toEqual([]);
        expect(await s.deleteDevice(d.id, '2026-03-02T00:00:00Z', 'cessationOfOperation')).toEqual({ ok: false, reason: 'not-found' });
        expect(await s.retireDevice(d.id, '2026-03-02T00:00:00Z', 'cessationOfOperation')).toEqual({ ok: false, reason: 'not-found' });
        expect(await s.updateDevice(d.id, { name: 'x' })).toBeNull();

        // a retired device may still be deleted; its retirement time stays
        const e = await s.createDevice({ name: 'e', platform: 'windows' });
        await s.retireDevice(e.id, '2026-03-01T00:00:00Z', 'cessationOfOperation');
        expect(await s.deleteDevice(e.id, '2026-03-05T00:00:00Z', 'cessationOfOperation')).toMatchObject({ ok: true, device: { retiredAt: '2026-03-01T00:00:00.000Z' }, revoked: [] });
      });

      it('revokeDeviceCertificates: revokes what is left without changing the device', async () => {
        const d = await s.createDevice({ name: 'd', platform: 'ios' });
        await s.recordEnrollment(null, enrollment('tx-c1', { deviceId: d.id, kind: 'identity' }), certificate('51', { deviceId: d.id, kind: 'identity' }));
        expect(await s.revokeDeviceCertificates(d.id, '2026-03-01T00:00:00Z', 'cessationOfOperation')).toEqual(['51']);
        expect(await s.revokeDeviceCertificates(d.id, '2026-03-02T00:00:00Z', 'cessationOfOperation')).toEqual([]);
        expect(await s.getDevice(d.id)).toEqual(d);
        expect(await s.revokeDeviceCertificates('no-such-device', '2026-03-02T00:00:00Z', 'cessationOfOperation')).toBeNull();
      });

      it('pending removals: first since wins, listed by age, cancelled, revoked once with their renewals', async () => {
        await s.recordEnrollment(null, enrollment('tx-p1'), certificate('61', { profileId: 'p-1' }));
        await s.recordEnrollment(null, enrollment('tx-p2', { renewalOf: '61' }), certificate('62', { profileId: 'p-1', renewalOf: '61' }));
        await s.recordEnrollment(null, enrollment('tx-p3'), certificate('63', { profileId: 'p-2' }));
        const added = await s.addPendingRemovals(
          [
            { serialNumber: '61', deviceId: 'dev-1', profileId: 'p-1' },
            { serialNumber: '63', deviceId: 'dev-1', profileId: 'p-2' },
          ],
          '2026-03-01T00:00:00Z',
        );
        expect(added.map((r) => r.serialNumber)).toEqual(['61', '63']);
        expect(await s.addPendingRemovals([{ serialNumber: '61', deviceId: 'dev-1', profileId: 'p-1' }], '2026-03-05T00:00:00Z')).toEqual([]);
        expect(await s.listPendingRemovals({ deviceId: 'dev-1' })).toEqual([
          { serialNumber: '61', deviceId: 'dev-1', profileId: 'p-1', since: '2026-03-01T00:00:00.000Z' },
          { serialNumber: '63', deviceId: 'dev-1', profileId: 'p-2', since: '2026-03-01T00:00:00.000Z' },
        ]);
        expect(await s.listPendingRemovals({ before: '2026-03-01T00:00:00Z' })).toEqual([]);
        expect(await s.listPendingRemovals({ deviceId: 'dev-2' })).toEqual([]);

        expect(await s.cancelPendingRemovals(['63', 'nope'])).toBe(1);
        expect((await s.getCertificate('63'))?.revokedAt).toBeNull();

        expect(await s.revokePendingRemoval('61', '2026-03-02T00:00:00Z', 'cessationOfOperation')).toEqual(['61', '62']);
        expect(await s.getCertificate('62')).toMatchObject({ revokedAt: '2026-03-02T00:00:00.000Z', revocationReason: 'cessationOfOperation' });
        expect(await s.revokePendingRemoval('61', '2026-03-03T00:00:00Z', 'cessationOfOperation')).toBeNull();
        expect(await s.listPendingRemovals()).toEqual([]);

        // an already revoked certificate: the row goes, nothing else changes
        await s.addPendingRemovals([{ serialNumber: '62', deviceId: 'dev-1', profileId: 'p-1' }], '2026-03-04T00:00:00Z');
        expect(await s.revokePendingRemoval('62', '2026-03-05T00:00:00Z', 'unspecified')).toEqual([]);
        expect(await s.getCertificate('62')).toMatchObject({ revocationReason: 'cessationOfOperation' });
      });

      it('a revocation of the device or user drops the pending removals it covers', async () => {
        const d = await s.createDevice({ name: 'd', platform: 'ios' });
        await s.recordEnrollment(null, enrollment('tx-q1', { deviceId: d.id }), certificate('71', { deviceId: d.id, profileId: 'p-1' }));
        await s.addPendingRemovals([{ serialNumber: '71', deviceId: d.id, profileId: 'p-1' }], '2026-03-01T00:00:00Z');
        await s.retireDevice(d.id, '2026-03-02T00:00:00Z', 'cessationOfOperation');
        expect(await s.listPendingRemovals()).toEqual([]);
      });

      it('profiles stored without revokeOnRemoval read it as true; false round-trips', async () => {
        const p = await s.createProfile(spec({ revokeOnRemoval: false }));
        expect((await s.getProfile(p.id))?.revokeOnRemoval).toBe(false);
        const { revokeOnRemoval: _drop, ...old } = spec();
        const q = await s.createProfile(old as ProfileSpec);
        expect((await s.getProfile(q.id))?.revokeOnRemoval).toBe(true);
      });
    });

    // ---- delivery status --------------------------------------------------------------

    describe('delivery status', () => {
      it('keeps the latest report per device and profile, and matches thumbprints', async () => {
        const d = await s.createDevice({ name: 'd1', platform: 'windows' });
        const base = { deviceId: d.id, profileId: 'p-1', profileVersion: 1, thumbprint: null, certificateSerial: null, errorCode: null, detail: null };
        const first = await s.putDeliveryStatus({ ...base, state: 'pending' });
        expect(isIso(first.updatedAt)).toBe(true);
        await s.putDeliveryStatus({ ...base, profileVersion: 2, state: 'failed', errorCode: '0x80090016' });
        await s.putDeliveryStatus({ ...base, profileId: 'p-2', state: 'installed', thumbprint: 'AA'.repeat(20) });
        const list = await s.listDeliveryStatus({ deviceId: d.id });
        expect(list).toHaveLength(2);
        expect(list.find((x) => x.profileId === 'p-1')).toMatchObject({ state: 'failed', profileVersion: 2, errorCode: '0x80090016' });
        expect(await s.listDeliveryStatus({ profileId: 'p-2' })).toEqual([expect.objectContaining({ state: 'installed', thumbprint: 'AA'.repeat(20) })]);
        await expectStorageError(s.putDeliveryStatus({ ...base, deviceId: '00000000-0000-4000-8000-000000000000', state: 'pending' }), 'not-found');
      });

      it('counts (device, profile) pairs per state, every state present', async () => {
        expect(await s.countDeliveryStates()).toEqual({ pending: 0, enrolling: 0, installed: 0, failed: 0, removed: 0 });
        const d1 = await s.createDevice({ name: 'd1', platform: 'windows' });
        const d2 = await s.createDevice({ name: 'd2', platform: 'ios' });
        const base = { profileVersion: 1, thumbprint: null, certificateSerial: null, errorCode: null, detail: null };
        await s.putDeliveryStatus({ ...base, deviceId: d1.id, profileId: 'p-1', state: 'installed' });
        await s.putDeliveryStatus({ ...base, deviceId: d2.id, profileId: 'p-1', state: 'installed' });
        await s.putDeliveryStatus({ ...base, deviceId: d1.id, profileId: 'p-2', state: 'pending' });
        await s.putDeliveryStatus({ ...base, deviceId: d1.id, profileId: 'p-2', state: 'failed' }); // replaces, not adds
        expect(await s.countDeliveryStates()).toEqual({ pending: 0, enrolling: 0, installed: 2, failed: 1, removed: 0 });
      });

      it('finds an issued certificate by thumbprint, case-insensitively', async () => {
        const c = certificate('0badc0de');
        const ok = await s.recordEnrollment(null, enrollment('tx-thumb', { status: 'issued' }), { ...c, transactionId: 'tx-thumb' });
        expect(ok.ok).toBe(true);
        expect((await s.findCertificateByThumbprint(c.thumbprint.toLowerCase()))?.serialNumber).toBe('0badc0de');
        expect(await s.findCertificateByThumbprint('FF'.repeat(20))).toBeNull();
      });
    });
  });
}
