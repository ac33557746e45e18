import { beforeEach, describe, expect, it } from 'vitest';
import type { ProfileSpec } from '../../../src/core/model.js';
import { type Storage } from '../../../src/core/storage/storage.js';
import { UUID, expectStorageError, isIso, spec, enrollment, certificate, challenge, sortedBy, walkPages } from './fixtures.js';

/** The DirectoryStore part of the storage contract; `current` is the fresh storage of the running test. */
export function directoryContract(current: () => Storage): void {
  describe('DirectoryStore', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });

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

      it('pages groups in creation order (createdAt, id), filtered by q; same rows as the unpaged list', async () => {
        for (const name of ['Sales EMEA', 'HR', 'Sales US', 'Presales', 'IT']) await s.createGroup(name);
        const all = await walkPages((o) => s.listGroupsPage(o), 2);
        expect(all).toEqual(await s.listGroups());
        expect(all).toHaveLength(5);
        const sales = await walkPages((o) => s.listGroupsPage({ ...o, q: 'SALES' }), 1);
        expect(sales).toEqual(await s.listGroups({ q: 'SALES' }));
        expect(sales.map((g) => g.name).sort()).toEqual(['Presales', 'Sales EMEA', 'Sales US']);
        await expect(s.listGroupsPage({ limit: 0 })).rejects.toThrow(RangeError);
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
        // Several members in one read: one list per member, in the order asked.
        expect(await s.groupsOfMembers([{ deviceId: d.id }, { userId: u.id }, { deviceId: u.id }])).toEqual([[g2.id], [g1.id, g2.id].sort(), []]);
        expect(await s.groupsOfMembers([{ userId: u.id }])).toEqual([[g1.id, g2.id].sort()]);
        expect(await s.groupsOfMembers([])).toEqual([]);

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

    describe('directory search, group rename and delete', () => {
      it('listUsers({q}) matches a substring of userPrincipalName, email or displayName, ignoring case; % and _ are literal', async () => {
        const ann = await s.createUser({ userPrincipalName: 'ann.lee@contoso.example', email: 'ann@mail.example', displayName: 'Ann Lee' });
        const bob = await s.createUser({ userPrincipalName: 'bob@contoso.example', email: 'bob_100%@mail.example', displayName: 'Robert LEEDS' });
        const cat = await s.createUser({ userPrincipalName: 'cat@fabrikam.example', email: 'cat@mail.example', displayName: 'Cat' });
        // Same-millisecond rows order by random id: compare as sets.
        const ids = async (q: string) => (await s.listUsers({ q })).map((u) => u.id).sort();
        expect(await ids('lee')).toEqual([ann.id, bob.id].sort()); // displayName, both cases
        expect(await ids('FABRIKAM')).toEqual([cat.id]); // userPrincipalName
        expect(await ids('ann@mail')).toEqual([ann.id]); // email
        expect(await ids('_100%')).toEqual([bob.id]);
        expect(await ids('b_b')).toEqual([]); // _ is not a wildcard
        expect(await ids('%')).toEqual([bob.id]); // % is not a wildcard
        expect(await ids('\\')).toEqual([]);
        expect(await ids('nobody')).toEqual([]);
        expect((await s.listUsers({})).map((u) => u.id).sort()).toEqual([ann.id, bob.id, cat.id].sort());
      });

      it('listGroups({q}) matches a substring of the name, ignoring case', async () => {
        const a = await s.createGroup('Sales EMEA');
        const b = await s.createGroup('sales_us');
        await s.createGroup('Engineering');
        expect((await s.listGroups({ q: 'SALES' })).map((g) => g.id).sort()).toEqual([a.id, b.id].sort());
        expect((await s.listGroups({ q: 'a_e' })).map((g) => g.id)).toEqual([]); // 'Sales' would match a wildcard _
        expect((await s.listGroups({ q: 'es_u' })).map((g) => g.id)).toEqual([b.id]);
        expect(await s.listGroups()).toHaveLength(3);
      });

      it('renameGroup renames; null for an unknown group; conflict on a taken name', async () => {
        const a = await s.createGroup('a');
        await s.createGroup('b');
        const renamed = await s.renameGroup(a.id, 'a2');
        expect(renamed).toEqual({ ...a, name: 'a2' });
        expect(await s.getGroup(a.id)).toEqual(renamed);
        expect(await s.renameGroup('00000000-0000-4000-8000-000000000000', 'x')).toBeNull();
        await expectStorageError(s.renameGroup(a.id, 'b'), 'conflict');
        expect((await s.getGroup(a.id))?.name).toBe('a2');
      });

      it('deleteGroup removes the group and its memberships, returning the members; refused while assignments target it', async () => {
        const u = await s.createUser({ userPrincipalName: 'g@x', email: 'g@x', displayName: 'G' });
        const d = await s.createDevice({ name: 'd', platform: 'windows' });
        const g = await s.createGroup('doomed');
        await s.addGroupMember(g.id, { userId: u.id });
        await s.addGroupMember(g.id, { deviceId: d.id });
        const p = await s.createProfile(spec());
        const assignment = await s.createAssignment(p.id, { groupId: g.id });
        expect(await s.deleteGroup(g.id)).toEqual({ ok: false, reason: 'has-assignments', assignments: [assignment.id] });
        expect(await s.listGroupMembers(g.id)).toHaveLength(2); // nothing written
        await s.deleteAssignment(assignment.id);
        const r = await s.deleteGroup(g.id);
        expect(r).toEqual({ ok: true, group: g, members: expect.arrayContaining([{ userId: u.id }, { deviceId: d.id }]) });
        expect(r.ok && r.members).toHaveLength(2);
        expect(await s.getGroup(g.id)).toBeNull();
        expect(await s.listGroupMembers(g.id)).toEqual([]);
        expect(await s.groupsOf({ userId: u.id })).toEqual([]);
        expect(await s.getUser(u.id)).not.toBeNull();
        expect(await s.deleteGroup(g.id)).toEqual({ ok: false, reason: 'not-found' });
        // The name is free again.
        expect((await s.createGroup('doomed')).name).toBe('doomed');
      });
    });

    // ---- profiles -----------------------------------------------------------------
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

      it('cancelPendingRemovals advances the plan generation of the devices it dropped removals of, and no other', async () => {
        const d = await s.createDevice({ name: 'd', platform: 'ios' });
        const other = await s.createDevice({ name: 'o', platform: 'ios' });
        await s.recordEnrollment(null, enrollment('tx-c1', { deviceId: d.id }), certificate('7c', { deviceId: d.id, profileId: 'p-1' }));
        await s.addPendingRemovals([{ serialNumber: '7c', deviceId: d.id, profileId: 'p-1' }], '2026-03-01T00:00:00Z');
        const before = [(await s.getPlanGenerations(d.id)).device, (await s.getPlanGenerations(other.id)).device];
        expect(await s.cancelPendingRemovals(['7c'])).toBe(1);
        expect([(await s.getPlanGenerations(d.id)).device, (await s.getPlanGenerations(other.id)).device]).toEqual([before[0]! + 1, before[1]]);
        // Nothing left to drop: nothing advances.
        expect(await s.cancelPendingRemovals(['7c'])).toBe(0);
        expect((await s.getPlanGenerations(d.id)).device).toBe(before[0]! + 1);
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

      it('profiles stored before they named their CA read issuer "default"; another name round-trips per version', async () => {
        const { issuer: _drop, ...old } = spec();
        const legacy = await s.createProfile(old as ProfileSpec);
        expect((await s.getProfile(legacy.id))?.issuer).toBe('default');
        const vpn = await s.createProfile(spec({ issuer: 'vpn' }));
        expect((await s.getProfile(vpn.id))?.issuer).toBe('vpn');
        await s.updateProfile(vpn.id, spec({ issuer: 'default' }));
        expect((await s.getProfile(vpn.id))?.issuer).toBe('default');
        expect((await s.getProfile(vpn.id, 1))?.issuer).toBe('vpn');
      });
    });

    describe('directory sync (source, externalId, paging)', () => {
      it('local users and groups say so; external ones carry their source and id', async () => {
        const local = await s.createUser({ userPrincipalName: 'local@example.com', email: 'local@example.com', displayName: 'Local' });
        expect(local).toMatchObject({ source: 'local', externalId: null, enabled: true });
        const ext = await s.createExternalUser({ userPrincipalName: 'ext@example.com', email: 'ext@example.com', displayName: 'Ext', source: 'ldap', externalId: 'guid-1', attributes: { ObjectSid: 'S-1-5-21-1-2-3-1001' } });
        expect(ext).toMatchObject({ source: 'ldap', externalId: 'guid-1', enabled: true, attributes: { ObjectSid: 'S-1-5-21-1-2-3-1001' } });
        expect(await s.getUser(ext.id)).toEqual(ext);
        const off = await s.createExternalUser({ userPrincipalName: 'off@example.com', email: 'off@example.com', displayName: 'Off', source: 'ldap', externalId: 'guid-2', enabled: false, at: '2026-01-02T03:04:05.000Z' });
        expect(off).toMatchObject({ enabled: false, disabledAt: '2026-01-02T03:04:05.000Z' });
        expect(await s.createGroup('local-group')).toMatchObject({ source: 'local', externalId: null });
        const g = await s.createExternalGroup('Staff', 'ldap', 'gguid-1');
        expect(await s.getGroup(g.id)).toEqual({ id: g.id, name: 'Staff', createdAt: g.createdAt, source: 'ldap', externalId: 'gguid-1' });
      });

      it('refuses a taken externalId within a source, and a taken userPrincipalName or group name', async () => {
        await s.createExternalUser({ userPrincipalName: 'a@example.com', email: 'a@example.com', displayName: 'A', source: 'ldap', externalId: 'same' });
        await expectStorageError(s.createExternalUser({ userPrincipalName: 'b@example.com', email: 'b@example.com', displayName: 'B', source: 'ldap', externalId: 'same' }), 'conflict');
        await expectStorageError(s.createExternalUser({ userPrincipalName: 'a@example.com', email: 'a@example.com', displayName: 'A', source: 'ldap', externalId: 'other' }), 'conflict');
        // Many local users (externalId null) never collide with each other.
        await s.createUser({ userPrincipalName: 'l1@example.com', email: 'l1@example.com', displayName: 'L1' });
        await s.createUser({ userPrincipalName: 'l2@example.com', email: 'l2@example.com', displayName: 'L2' });
        await s.createExternalGroup('G', 'ldap', 'g-same');
        await expectStorageError(s.createExternalGroup('G2', 'ldap', 'g-same'), 'conflict');
        await expectStorageError(s.createExternalGroup('G', 'ldap', 'g-other'), 'conflict');
      });

      it('creates many external users in one transaction; a conflict on one writes none', async () => {
        const many = Array.from({ length: 120 }, (_, i) => ({ userPrincipalName: `m${i}@example.com`, email: `m${i}@example.com`, displayName: `M${i}`, source: 'ldap' as const, externalId: `m-${i}`, ...(i === 7 && { enabled: false, at: '2026-01-02T03:04:05.000Z' }) }));
        const made = await s.createExternalUsers(many);
        expect(made.map((u) => u.userPrincipalName)).toEqual(many.map((u) => u.userPrincipalName));
        expect(made[7]).toMatchObject({ enabled: false, disabledAt: '2026-01-02T03:04:05.000Z', source: 'ldap', externalId: 'm-7' });
        expect(await s.getUser(made[119]!.id)).toEqual(made[119]);
        const before = (await s.listUsers()).length;
        await expectStorageError(s.createExternalUsers([{ ...many[0]!, userPrincipalName: 'fresh@example.com', externalId: 'fresh' }, { ...many[1]!, externalId: 'other' }]), 'conflict');
        expect((await s.listUsers()).length).toBe(before);
        expect(await s.createExternalUsers([])).toEqual([]);
      });

      it('renames users and groups, refusing taken names', async () => {
        const a = await s.createExternalUser({ userPrincipalName: 'a@example.com', email: 'a@example.com', displayName: 'A', source: 'ldap', externalId: 'x-a' });
        await s.createUser({ userPrincipalName: 'taken@example.com', email: 't@example.com', displayName: 'T' });
        expect((await s.renameUser(a.id, 'a2@example.com'))?.userPrincipalName).toBe('a2@example.com');
        await expectStorageError(s.renameUser(a.id, 'taken@example.com'), 'conflict');
        expect(await s.renameUser('00000000-0000-4000-8000-000000000000', 'x@example.com')).toBeNull();
        const g = await s.createExternalGroup('G', 'ldap', 'x-g');
        await s.createGroup('H');
        expect((await s.renameGroup(g.id, 'G2'))?.name).toBe('G2');
        await expectStorageError(s.renameGroup(g.id, 'H'), 'conflict');
        expect(await s.renameGroup('00000000-0000-4000-8000-000000000000', 'Z')).toBeNull();
      });

      it('pages users by (createdAt, id) and filters by source', async () => {
        const made = [];
        for (let i = 0; i < 5; i++) made.push(await s.createUser({ userPrincipalName: `l${i}@example.com`, email: `l${i}@example.com`, displayName: `L${i}` }));
        for (let i = 0; i < 3; i++) made.push(await s.createExternalUser({ userPrincipalName: `x${i}@example.com`, email: `x${i}@example.com`, displayName: `X${i}`, source: 'ldap', externalId: `x-${i}` }));
        const all = await s.listUsers();
        const seen: string[] = [];
        let after: { createdAt: string; id: string } | undefined;
        for (;;) {
          const page = await s.listUsersPage({ limit: 3, ...(after && { after }) });
          seen.push(...page.map((u) => u.id));
          if (page.length < 3) break;
          after = { createdAt: page[2]!.createdAt, id: page[2]!.id };
        }
        expect(seen).toEqual(all.map((u) => u.id));
        expect((await s.listUsersPage({ limit: 100, source: 'ldap' })).map((u) => u.userPrincipalName).sort()).toEqual(['x0@example.com', 'x1@example.com', 'x2@example.com']);
        expect(await s.listUsersPage({ limit: 100, source: 'local' })).toHaveLength(5);
        await expect(s.listUsersPage({ limit: 0 })).rejects.toThrow(RangeError);
      });

      it('finds users by a case-insensitive prefix of userPrincipalName, email or displayName, paged in creation order', async () => {
        const a = await s.createUser({ userPrincipalName: 'Zed.One@example.com', email: 'alpha@mail.example', displayName: 'Zed One' });
        const b = await s.createUser({ userPrincipalName: 'zed.two@example.com', email: 'zoe@mail.example', displayName: 'Beta_Z' });
        const c = await s.createUser({ userPrincipalName: 'amy@example.com', email: 'zed@mail.example', displayName: 'Amy' });
        await s.createUser({ userPrincipalName: 'other@example.com', email: 'other@mail.example', displayName: 'Lazed' }); // "zed" inside, not at the start
        const ids = async (prefix: string, limit = 100) => (await s.listUsersPage({ limit, prefix })).map((u) => u.id);
        const all = await ids('ZED');
        expect([...all].sort()).toEqual([a.id, b.id, c.id].sort());
        expect(await ids('zed.t')).toEqual([b.id]);
        expect(await ids('alpha@')).toEqual([a.id]);
        expect(await ids('beta_')).toEqual([b.id]);
        expect(await ids('beta%')).toEqual([]);
        expect(await ids('zee')).toEqual([]);
        // Keyset paging holds with the prefix.
        const first = await s.listUsersPage({ limit: 2, prefix: 'zed' });
        const rest = await s.listUsersPage({ limit: 2, prefix: 'zed', after: { createdAt: first[1]!.createdAt, id: first[1]!.id } });
        expect([...first, ...rest].map((u) => u.id)).toEqual(all);
        // A character above the basic plane at the end still bounds the range.
        const emoji = await s.createUser({ userPrincipalName: 'x\u{1F600}@example.com', email: 'e@mail.example', displayName: 'E' });
        expect(await ids('x\u{1F600}')).toEqual([emoji.id]);
      });

      it('a prefix that 1,000 or more users share pages the same way (the paging index is walked instead of sorting every match)', async () => {
        await s.createUser({ userPrincipalName: 'bulkless@example.com', email: 'x@mail.example', displayName: 'First' });
        await s.createExternalUsers(Array.from({ length: 1003 }, (_, i) => ({ userPrincipalName: `Bulk${i}@example.com`, email: `b${i}@mail.example`, displayName: `B ${i}`, source: 'ldap' as const, externalId: `bulk-${i}` })));
        await s.createUser({ userPrincipalName: 'other@example.com', email: 'BULK.o@mail.example', displayName: 'O' }); // by its email
        await s.createUser({ userPrincipalName: 'zz@example.com', email: 'zz@mail.example', displayName: 'Zz bulk' }); // "bulk" not at a start
        const everyone = await walkPages((o) => s.listUsersPage(o), 1000);
        const expected = everyone.filter((u) => [u.userPrincipalName, u.email, u.displayName].some((v) => v.toLowerCase().startsWith('bulk')));
        expect(expected).toHaveLength(1005);
        expect((await walkPages((o) => s.listUsersPage({ ...o, prefix: 'BULK' }), 400)).map((u) => u.id)).toEqual(expected.map((u) => u.id));
      });

      it('searches a substring over a bounded window of users: every match is found by following next, and one call reads at most `examine` users', async () => {
        const made = [];
        for (let i = 0; i < 12; i++) {
          const hit = i === 1 || i === 7 || i === 8 || i === 11;
          made.push(await s.createUser({ userPrincipalName: `w${i}@example.com`, email: `w${i}@mail.example`, displayName: hit ? `Has NeedLE_${i}` : `Plain ${i}` }));
        }
        expect(await s.deleteUser(made[8]!.id, '2026-03-01T00:00:00Z', 'cessationOfOperation')).toMatchObject({ ok: true });
        // List order is (createdAt, id): users made in the same millisecond sort by id.
        const order = await s.listUsers();
        expect(order).toHaveLength(11);
        const expected = order.filter((u) => u.displayName.includes('NeedLE')).map((u) => u.id);
        expect(expected).toHaveLength(3);
        // The paging index holds the deleted user too: a window counts it (nothing but the index is read to find the window's end).
        const indexed = [...made].sort((x, y) => (x.createdAt < y.createdAt ? -1 : x.createdAt > y.createdAt ? 1 : x.id < y.id ? -1 : 1));
        const calls: { ids: string[]; next: string | null }[] = [];
        let after: { createdAt: string; id: string } | undefined;
        for (;;) {
          const r = await s.searchUsersPage({ contains: 'needle_', examine: 3, limit: 100, ...(after && { after }) });
          calls.push({ ids: r.users.map((u) => u.id), next: r.next?.id ?? null });
          if (!r.next) break;
          after = r.next;
        }
        expect(calls.flatMap((c) => c.ids)).toEqual(expected);
        // The bound: each call reads the next 3 users and resumes at the last of them, matched or not; the fifth finds none left.
        expect(calls.map((c) => c.next)).toEqual([indexed[2]!.id, indexed[5]!.id, indexed[8]!.id, indexed[11]!.id, null]);
        calls.slice(0, 4).forEach((c, i) => expect(c.ids).toEqual(indexed.slice(i * 3, i * 3 + 3).filter((u) => expected.includes(u.id)).map((u) => u.id)));
        // A full page resumes after its last match, inside the window.
        const first = await s.searchUsersPage({ contains: 'NEEDLE', examine: 100, limit: 1 });
        const hit = order.find((u) => u.id === expected[0])!;
        expect(first).toEqual({ users: [expect.objectContaining({ id: hit.id })], next: { createdAt: hit.createdAt, id: hit.id } });
        // % and _ are no wildcards.
        expect((await s.searchUsersPage({ contains: '%', examine: 100, limit: 100 })).users).toEqual([]);
        expect((await s.searchUsersPage({ contains: 'n_', examine: 100, limit: 100 })).users).toEqual([]);
        await expect(s.searchUsersPage({ contains: 'x', examine: 0, limit: 10 })).rejects.toThrow(RangeError);
      });

      it('pages devices by (createdAt, id), skips deleted ones, and a page boundary holds while devices are added', async () => {
        const made = [];
        for (let i = 0; i < 7; i++) made.push(await s.createDevice({ name: `p${i}`, platform: 'android' }));
        expect(await s.deleteDevice(made[3]!.id, '2026-03-01T00:00:00Z', 'cessationOfOperation')).toMatchObject({ ok: true });
        const all = await s.listDevices();
        expect(all.map((d) => d.id)).not.toContain(made[3]!.id);
        const seen: string[] = [];
        let after: { createdAt: string; id: string } | undefined;
        for (;;) {
          const page = await s.listDevicesPage({ limit: 2, ...(after && { after }) });
          seen.push(...page.map((d) => d.id));
          // A device added mid-walk comes after every cursor handed out so far: still seen, once, at the end.
          if (seen.length === 2) {
            await new Promise((r) => setTimeout(r, 3)); // a later millisecond than every device so far
            made.push(await s.createDevice({ name: 'late', platform: 'ios' }));
          }
          if (page.length < 2) break;
          after = { createdAt: page[1]!.createdAt, id: page[1]!.id };
        }
        expect(seen).toEqual((await s.listDevices()).map((d) => d.id));
        expect(seen).toHaveLength(7);
        expect(await s.listDevicesPage({ limit: 100 })).toEqual(await s.listDevices());
        // Ties on createdAt are broken by id: a cursor at (createdAt, '') starts at the first device of that instant.
        const first = all[0]!;
        expect((await s.listDevicesPage({ limit: 1, after: { createdAt: first.createdAt, id: '' } }))[0]?.id).toBe(first.id);
        await expect(s.listDevicesPage({ limit: 0 })).rejects.toThrow(RangeError);
        await expect(s.listDevicesPage({ limit: 10_001 })).rejects.toThrow(RangeError);
      });

      it('sets a group\'s user members in one go, leaving device members alone', async () => {
        const g = await s.createExternalGroup('G', 'ldap', 'g-1');
        const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => s.createUser({ userPrincipalName: `${n}@example.com`, email: `${n}@example.com`, displayName: n })));
        const d = await s.createDevice({ name: 'd', platform: 'windows' });
        await s.addGroupMember(g.id, { deviceId: d.id });
        expect(await s.setGroupUserMembers(g.id, [a!.id, b!.id])).toEqual({ added: [a!.id, b!.id].sort(), removed: [] });
        expect(await s.setGroupUserMembers(g.id, [b!.id, c!.id])).toEqual({ added: [c!.id], removed: [a!.id] });
        expect(await s.setGroupUserMembers(g.id, [b!.id, c!.id])).toEqual({ added: [], removed: [] });
        const members = await s.listGroupMembers(g.id);
        expect(members).toHaveLength(3);
        expect(members).toContainEqual({ deviceId: d.id });
        // An unknown user: nothing written.
        await expectStorageError(s.setGroupUserMembers(g.id, [a!.id, '00000000-0000-4000-8000-000000000000']), 'not-found');
        expect(await s.listGroupMembers(g.id)).toHaveLength(3);
        await expectStorageError(s.setGroupUserMembers('00000000-0000-4000-8000-000000000000', []), 'not-found');
      });
    });

    // ---- delivery status --------------------------------------------------------------
  });
}
