import { beforeEach, describe, expect, it } from 'vitest';
import { type Storage } from '../../../src/core/storage/storage.js';
import { UUID, expectStorageError, isIso, spec, walkPages } from './fixtures.js';

/** The AssignmentStore part of the storage contract; `current` is the fresh storage of the running test. */
export function assignmentsContract(current: () => Storage): void {
  describe('AssignmentStore', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });

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

        expect(await s.deleteAssignment(a2.id)).toEqual(a2);
        expect(await s.deleteAssignment(a2.id)).toBeNull();
        expect(await s.listAssignments({ profileId: p.id })).toEqual([a1]);
      });

      it('pages assignments in creation order (createdAt, id), of one profile when given; same rows as the unpaged list', async () => {
        const { u, d, g, p, q } = await world();
        const made = [await s.createAssignment(p.id, { userId: u.id }), await s.createAssignment(q.id, { groupId: g.id }), await s.createAssignment(p.id, { deviceId: d.id }), await s.createAssignment(p.id, { groupId: g.id })];
        const all = await walkPages((o) => s.listAssignmentsPage(o), 2);
        expect(all).toEqual(await s.listAssignments());
        expect(all.map((a) => a.id).sort()).toEqual(made.map((a) => a.id).sort());
        const ofP = await walkPages((o) => s.listAssignmentsPage({ ...o, profileId: p.id }), 1);
        expect(ofP).toEqual(await s.listAssignments({ profileId: p.id }));
        expect(ofP).toHaveLength(3);
        await expect(s.listAssignmentsPage({ limit: 0 })).rejects.toThrow(RangeError);
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

      it('isProfileAssigned: to the device or the user, directly or through a group of either; the profile and the kind matter', async () => {
        const { u, d, g, p, q } = await world();
        const other = await s.createDevice({ name: 'other', platform: 'windows' });
        const g2 = await s.createGroup('g2');
        const both = { deviceId: d.id, userId: u.id };
        expect(await s.isProfileAssigned(p.id, both)).toBe(false);
        expect(await s.isProfileAssigned(p.id, { deviceId: null, userId: null })).toBe(false);
        const direct = await s.createAssignment(p.id, { deviceId: d.id });
        expect(await s.isProfileAssigned(p.id, both)).toBe(true);
        expect(await s.isProfileAssigned(p.id, { deviceId: d.id, userId: null })).toBe(true);
        expect(await s.isProfileAssigned(p.id, { deviceId: null, userId: u.id })).toBe(false);
        expect(await s.isProfileAssigned(q.id, both)).toBe(false);
        expect(await s.isProfileAssigned(p.id, { deviceId: other.id, userId: null })).toBe(false);
        await s.deleteAssignment(direct.id);
        // Through the user, then a group of the user, then a group of the device.
        const viaUser = await s.createAssignment(q.id, { userId: u.id });
        expect(await s.isProfileAssigned(q.id, { deviceId: null, userId: u.id })).toBe(true);
        expect(await s.isProfileAssigned(q.id, { deviceId: d.id, userId: null })).toBe(false);
        await s.deleteAssignment(viaUser.id);
        await s.addGroupMember(g.id, { userId: u.id });
        await s.addGroupMember(g2.id, { deviceId: d.id });
        const toGroup = await s.createAssignment(q.id, { groupId: g.id });
        expect(await s.isProfileAssigned(q.id, { deviceId: null, userId: u.id })).toBe(true);
        expect(await s.isProfileAssigned(q.id, { deviceId: d.id, userId: null })).toBe(false);
        await s.deleteAssignment(toGroup.id);
        await s.createAssignment(p.id, { groupId: g2.id });
        expect(await s.isProfileAssigned(p.id, { deviceId: d.id, userId: null })).toBe(true);
        expect(await s.isProfileAssigned(p.id, { deviceId: other.id, userId: u.id })).toBe(false);
        // An id of another kind does not count: the user's id as a device, the group's as a user.
        expect(await s.isProfileAssigned(p.id, { deviceId: u.id, userId: g2.id })).toBe(false);
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
  });
}
