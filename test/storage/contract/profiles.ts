import { beforeEach, describe, expect, it } from 'vitest';
import { type Storage } from '../../../src/core/storage/storage.js';
import type { Profile } from '../../../src/core/model.js';
import { UUID, expectStorageError, isIso, spec, sortedBy, walkPages } from './fixtures.js';

/** The ProfileStore part of the storage contract; `current` is the fresh storage of the running test. */
export function profilesContract(current: () => Storage): void {
  describe('ProfileStore', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });

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

      it('getProfiles reads current versions in one call, in the order asked, leaving out missing and deleted ones', async () => {
        const a = await s.createProfile(spec({ name: 'a' }));
        const b = await s.createProfile(spec({ name: 'b' }));
        const c = await s.createProfile(spec({ name: 'c' }));
        const b2 = await s.updateProfile(b.id, spec({ name: 'b', subjectName: 'CN=b2' }));
        expect(await s.deleteProfile(c.id)).toBe(true);
        const got = await s.getProfiles([b.id, '00000000-0000-4000-8000-000000000000', c.id, a.id, b.id]);
        expect(got).toEqual([await s.getProfile(b.id), await s.getProfile(a.id)]);
        expect(got[0]!.version).toBe(b2!.version);
        expect(got[0]!.subjectName).toBe('CN=b2');
        expect(await s.getProfiles([])).toEqual([]);
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

      it('pages current versions of live profiles in creation order (createdAt, id); same rows as the unpaged list', async () => {
        const made: Profile[] = [];
        for (let i = 0; i < 5; i++) made.push(await s.createProfile(spec({ name: `pg${i}` })));
        await s.updateProfile(made[1]!.id, spec({ name: 'pg1 v2' }));
        expect(await s.deleteProfile(made[3]!.id)).toBe(true);
        const all = await walkPages((o) => s.listProfilesPage(o), 2);
        expect(all).toEqual(await s.listProfiles());
        expect(all).toHaveLength(4);
        expect(all.find((x) => x.id === made[1]!.id)?.version).toBe(2);
        await expect(s.listProfilesPage({ limit: 10_001 })).rejects.toThrow(RangeError);
      });

      it('getProfiles: current versions of the ids given, in that order, each once; missing and deleted left out, past the 500-id chunk too', async () => {
        const a = await s.createProfile(spec({ name: 'a' }));
        const b = await s.createProfile(spec({ name: 'b' }));
        const c = await s.createProfile(spec({ name: 'c' }));
        const a2 = await s.updateProfile(a.id, spec({ name: 'a2' }));
        expect(await s.deleteProfile(c.id)).toBe(true);
        expect(await s.getProfiles([b.id, 'no-such-profile', c.id, a.id, b.id])).toEqual([b, a2]);
        // Read in chunks of 500 ids (bound-parameter limits): a profile after the first chunk is still found.
        const unknown = Array.from({ length: 1200 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
        expect(await s.getProfiles([...unknown, b.id])).toEqual([b]);
        expect(await s.getProfiles([a.id])).toEqual([await s.getProfile(a.id)]);
        expect(await s.getProfiles([])).toEqual([]);
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
  });
}
