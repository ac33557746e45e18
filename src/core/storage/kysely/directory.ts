import { randomUUID } from 'node:crypto';
import type { Updateable } from 'kysely';
import type { Device, Group, MemberRef, User, DeviceReported, ReportedField, RevocationReason } from '../../model.js';
import { StorageConflictError, type NewUser, type NewDevice, type DevicePatch, type BlockResult, type UnblockResult, type UserPatch, type UpdateUserResult, type DeleteUserResult, type RetireResult, type BeginRetireResult, type DeleteDeviceResult } from '../storage.js';
import type { DirectoryStore } from '../directory-store.js';
import type { Database, DeviceRow, DevicesTable, GroupRow, UserRow } from '../schema.js';
import { KyselyStore, isoTimestamp, attributesJson, isForeignKeyViolation, isUniqueViolation } from './support.js';
import { memberOf, describeMember, rowToUser, rowToDevice, rowToGroup } from './rows.js';
import { revokeOwned } from './revocation.js';

// Users, devices, groups and memberships, and the lifecycle transactions
// (block, retire, delete, disable). Those write certificates, memberships,
// assignments and pending removals too: each is one transaction so nothing is
// half retired or half deleted (revocation.ts holds the shared revocation walk).

/** devices column pairs (admin, reported) per reported field. */
const IDENTIFIER_COLUMNS = {
  name: ['name', 'reported_name'],
  serialNumber: ['serial_number', 'reported_serial_number'],
} as const satisfies Record<ReportedField, readonly [keyof DevicesTable, keyof DevicesTable]>;

export class KyselyDirectoryStore extends KyselyStore implements DirectoryStore {
  async createUser(u: NewUser): Promise<User> {
    const row: UserRow = {
      id: randomUUID(),
      user_principal_name: u.userPrincipalName,
      email: u.email,
      display_name: u.displayName,
      attributes: attributesJson(u.attributes),
      created_at: this.stamp(),
      disabled_at: null,
      deleted_at: null,
    };
    try {
      await this.db.insertInto('users').values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e)) {
        throw new StorageConflictError(`a user with userPrincipalName ${u.userPrincipalName} already exists`, 'conflict');
      }
      throw e;
    }
    return rowToUser(row);
  }

  async getUser(id: string): Promise<User | null> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
    return row ? rowToUser(row) : null;
  }

  async listUsers(): Promise<User[]> {
    const rows = await this.db.selectFrom('users').selectAll().where('deleted_at', 'is', null).orderBy('created_at').orderBy('id').execute();
    return rows.map(rowToUser);
  }

  async createDevice(d: NewDevice): Promise<Device> {
    const row: DeviceRow = {
      id: randomUUID(),
      name: d.name ?? '',
      platform: d.platform,
      serial_number: d.serialNumber ?? null,
      user_id: d.userId ?? null,
      attributes: attributesJson(d.attributes),
      created_at: this.stamp(),
      blocked_at: null,
      reported_name: null,
      reported_serial_number: null,
      reported_conflicts: '[]',
      reported_at: null,
      retired_at: null,
      deleted_at: null,
      retiring_since: null,
    };
    try {
      await this.db.insertInto('devices').values(row).execute();
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new StorageConflictError(`unknown user ${row.user_id}`, 'not-found');
      throw e;
    }
    return rowToDevice(row);
  }

  async getDevice(id: string): Promise<Device | null> {
    const row = await this.db.selectFrom('devices').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
    return row ? rowToDevice(row) : null;
  }

  async listDevices(): Promise<Device[]> {
    const rows = await this.db.selectFrom('devices').selectAll().where('deleted_at', 'is', null).orderBy('created_at').orderBy('id').execute();
    return rows.map(rowToDevice);
  }

  async updateDevice(id: string, patch: DevicePatch): Promise<Device | null> {
    const set: Updateable<DevicesTable> = {};
    if (patch.name !== undefined) set.name = patch.name ?? '';
    if (patch.serialNumber !== undefined) set.serial_number = patch.serialNumber;
    if (patch.userId !== undefined) set.user_id = patch.userId;
    if (patch.attributes !== undefined) set.attributes = attributesJson(patch.attributes);
    if (Object.keys(set).length === 0) return this.getDevice(id);
    try {
      const row = await this.db.updateTable('devices').set(set).where('id', '=', id).where('deleted_at', 'is', null).returningAll().executeTakeFirst();
      return row ? rowToDevice(row) : null;
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new StorageConflictError(`unknown user ${String(patch.userId)}`, 'not-found');
      throw e;
    }
  }

  async blockDevice(id: string, at: string, reason: RevocationReason): Promise<BlockResult> {
    const blockedAt = isoTimestamp(at, 'blockedAt');
    return this.db.transaction().execute(async (trx): Promise<BlockResult> => {
      const row = await trx
        .updateTable('devices')
        .set({ blocked_at: blockedAt })
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .where('blocked_at', 'is', null)
        .returningAll()
        .executeTakeFirst();
      if (!row) {
        const exists = await trx.selectFrom('devices').select('id').where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
        return { ok: false, reason: exists ? 'already-blocked' : 'not-found' };
      }
      return { ok: true, device: rowToDevice(row), revoked: await revokeOwned(trx, 'device_id', id, blockedAt, reason) };
    });
  }

  async updateUser(id: string, patch: UserPatch, at: string, reason: RevocationReason): Promise<UpdateUserResult> {
    const stamp = isoTimestamp(at, 'at');
    return this.db.transaction().execute(async (trx): Promise<UpdateUserResult> => {
      const before = await trx.selectFrom('users').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
      if (!before) return { ok: false, reason: 'not-found' };
      if (patch.enabled === false && before.disabled_at !== null) return { ok: false, reason: 'already-disabled' };
      const set: Updateable<Database['users']> = {};
      if (patch.email !== undefined) set.email = patch.email;
      if (patch.displayName !== undefined) set.display_name = patch.displayName;
      if (patch.attributes !== undefined) set.attributes = attributesJson(patch.attributes);
      if (patch.enabled === false) set.disabled_at = stamp;
      if (patch.enabled === true) set.disabled_at = null;
      const row = Object.keys(set).length > 0 ? await trx.updateTable('users').set(set).where('id', '=', id).returningAll().executeTakeFirstOrThrow() : before;
      const revoked = patch.enabled === false ? await revokeOwned(trx, 'user_id', id, stamp, reason, 'profile') : [];
      return { ok: true, user: rowToUser(row), revoked };
    });
  }

  async deleteUser(id: string, at: string, reason: RevocationReason): Promise<DeleteUserResult> {
    const stamp = isoTimestamp(at, 'at');
    return this.db.transaction().execute(async (trx): Promise<DeleteUserResult> => {
      const row = await trx.updateTable('users').set({ deleted_at: stamp }).where('id', '=', id).where('deleted_at', 'is', null).returningAll().executeTakeFirst();
      if (!row) return { ok: false, reason: 'not-found' };
      const revoked = await revokeOwned(trx, 'user_id', id, stamp, reason, 'profile');
      const devices = await trx.updateTable('devices').set({ user_id: null }).where('user_id', '=', id).returning('id').execute();
      await trx.deleteFrom('group_members').where('user_id', '=', id).execute();
      await trx.deleteFrom('assignments').where('target_kind', '=', 'user').where('target_id', '=', id).execute();
      return { ok: true, user: rowToUser(row), revoked, devices: devices.map((d) => d.id).sort() };
    });
  }

  async retireDevice(id: string, at: string, reason: RevocationReason): Promise<RetireResult> {
    const stamp = isoTimestamp(at, 'at');
    return this.db.transaction().execute(async (trx): Promise<RetireResult> => {
      const row = await trx
        .updateTable('devices')
        .set({ retired_at: stamp })
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .where('retired_at', 'is', null)
        .returningAll()
        .executeTakeFirst();
      if (!row) {
        const exists = await trx.selectFrom('devices').select('id').where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
        return { ok: false, reason: exists ? 'already-retired' : 'not-found' };
      }
      return { ok: true, device: rowToDevice(row), revoked: await revokeOwned(trx, 'device_id', id, stamp, reason) };
    });
  }

  async beginRetireDevice(id: string, at: string, reason: RevocationReason): Promise<BeginRetireResult> {
    const stamp = isoTimestamp(at, 'at');
    return this.db.transaction().execute(async (trx): Promise<BeginRetireResult> => {
      const row = await trx
        .updateTable('devices')
        .set({ retiring_since: stamp })
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .where('retired_at', 'is', null)
        .where('retiring_since', 'is', null)
        .returningAll()
        .executeTakeFirst();
      if (!row) {
        const exists = await trx.selectFrom('devices').select(['retired_at']).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
        if (!exists) return { ok: false, reason: 'not-found' };
        return { ok: false, reason: exists.retired_at !== null ? 'already-retired' : 'already-retiring' };
      }
      return { ok: true, device: rowToDevice(row), revoked: await revokeOwned(trx, 'device_id', id, stamp, reason, 'profile') };
    });
  }

  async listRetiringDevices(before: string): Promise<Device[]> {
    const rows = await this.db
      .selectFrom('devices')
      .selectAll()
      .where('retiring_since', 'is not', null)
      .where('retiring_since', '<', isoTimestamp(before, 'before'))
      .where('retired_at', 'is', null)
      .where('deleted_at', 'is', null)
      .orderBy('retiring_since')
      .orderBy('id')
      .execute();
    return rows.map(rowToDevice);
  }

  async deleteDevice(id: string, at: string, reason: RevocationReason): Promise<DeleteDeviceResult> {
    const stamp = isoTimestamp(at, 'at');
    return this.db.transaction().execute(async (trx): Promise<DeleteDeviceResult> => {
      const row = await trx
        .updateTable('devices')
        .set((eb) => ({ deleted_at: stamp, retired_at: eb.fn.coalesce('retired_at', eb.val(stamp)) }))
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .returningAll()
        .executeTakeFirst();
      if (!row) return { ok: false, reason: 'not-found' };
      const revoked = await revokeOwned(trx, 'device_id', id, stamp, reason);
      await trx.deleteFrom('group_members').where('device_id', '=', id).execute();
      await trx.deleteFrom('assignments').where('target_kind', '=', 'device').where('target_id', '=', id).execute();
      await trx.deleteFrom('pending_removals').where('device_id', '=', id).execute();
      return { ok: true, device: rowToDevice(row), revoked };
    });
  }

  async revokeDeviceCertificates(id: string, at: string, reason: RevocationReason): Promise<string[] | null> {
    const stamp = isoTimestamp(at, 'at');
    return this.db.transaction().execute(async (trx) => {
      const device = await trx.selectFrom('devices').select('id').where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
      if (!device) return null;
      return revokeOwned(trx, 'device_id', id, stamp, reason);
    });
  }

  async unblockDevice(id: string): Promise<UnblockResult> {
    return this.db.transaction().execute(async (trx): Promise<UnblockResult> => {
      const row = await trx
        .updateTable('devices')
        .set({ blocked_at: null })
        .where('id', '=', id)
        .where('blocked_at', 'is not', null)
        .returningAll()
        .executeTakeFirst();
      if (row) return { ok: true, device: rowToDevice(row) };
      const exists = await trx.selectFrom('devices').select('id').where('id', '=', id).executeTakeFirst();
      return { ok: false, reason: exists ? 'not-blocked' : 'not-found' };
    });
  }

  async setDeviceReported(id: string, reported: DeviceReported): Promise<Device | null> {
    const row = await this.db
      .updateTable('devices')
      .set({
        reported_name: reported.name,
        reported_serial_number: reported.serialNumber,
        reported_conflicts: JSON.stringify(reported.conflicts),
        reported_at: reported.updatedAt === null ? null : isoTimestamp(reported.updatedAt, 'reported.updatedAt'),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row ? rowToDevice(row) : null;
  }

  async findDevicesByIdentifier(field: ReportedField, value: string): Promise<Device[]> {
    const v = value.trim().toLowerCase();
    if (v === '') return [];
    const [admin, reported] = IDENTIFIER_COLUMNS[field];
    const rows = await this.db
      .selectFrom('devices')
      .selectAll()
      .where((eb) => eb.or([eb(eb.fn('lower', [eb.fn('trim', [eb.ref(admin)])]), '=', v), eb(eb.fn('lower', [eb.fn('trim', [eb.ref(reported)])]), '=', v)]))
      .where('deleted_at', 'is', null)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(rowToDevice);
  }

  async createGroup(name: string): Promise<Group> {
    const row: GroupRow = { id: randomUUID(), name, created_at: this.stamp() };
    try {
      await this.db.insertInto('groups').values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw new StorageConflictError(`a group named ${name} already exists`, 'conflict');
      throw e;
    }
    return rowToGroup(row);
  }

  async getGroup(id: string): Promise<Group | null> {
    const row = await this.db.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? rowToGroup(row) : null;
  }

  async listGroups(): Promise<Group[]> {
    const rows = await this.db.selectFrom('groups').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(rowToGroup);
  }

  async addGroupMember(groupId: string, member: MemberRef): Promise<void> {
    const m = memberOf(member);
    const createdAt = this.stamp();
    await this.db.transaction().execute(async (trx) => {
      const group = await trx.selectFrom('groups').select('id').where('id', '=', groupId).executeTakeFirst();
      if (!group) throw new StorageConflictError(`unknown group ${groupId}`, 'not-found');
      const exists =
        m.userId !== null
          ? await trx.selectFrom('users').select('id').where('id', '=', m.userId).where('deleted_at', 'is', null).executeTakeFirst()
          : await trx.selectFrom('devices').select('id').where('id', '=', m.deviceId!).where('deleted_at', 'is', null).executeTakeFirst();
      if (!exists) throw new StorageConflictError(`unknown ${describeMember(m)}`, 'not-found');
      try {
        await trx
          .insertInto('group_members')
          .values({ group_id: groupId, user_id: m.userId, device_id: m.deviceId, created_at: createdAt })
          .onConflict((oc) => oc.doNothing())
          .execute();
      } catch (e) {
        // Only reachable when a concurrent transaction deleted the group or member.
        if (isForeignKeyViolation(e)) {
          throw new StorageConflictError(`unknown group ${groupId} or ${describeMember(m)}`, 'not-found');
        }
        throw e;
      }
    });
  }

  async removeGroupMember(groupId: string, member: MemberRef): Promise<boolean> {
    const m = memberOf(member);
    let q = this.db.deleteFrom('group_members').where('group_id', '=', groupId);
    q = m.userId !== null ? q.where('user_id', '=', m.userId) : q.where('device_id', '=', m.deviceId!);
    const result = await q.executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async groupsOf(member: MemberRef): Promise<string[]> {
    const m = memberOf(member);
    let q = this.db.selectFrom('group_members').select('group_id');
    q = m.userId !== null ? q.where('user_id', '=', m.userId) : q.where('device_id', '=', m.deviceId!);
    const rows = await q.orderBy('group_id').execute();
    return rows.map((r) => r.group_id);
  }

  async listGroupMembers(groupId: string): Promise<MemberRef[]> {
    const rows = await this.db.selectFrom('group_members').select(['user_id', 'device_id']).where('group_id', '=', groupId).orderBy('created_at').execute();
    return rows.map((r) => (r.user_id !== null ? { userId: r.user_id } : { deviceId: r.device_id! }));
  }

  async listDevicesOfUser(userId: string): Promise<Device[]> {
    const rows = await this.db.selectFrom('devices').selectAll().where('user_id', '=', userId).where('deleted_at', 'is', null).orderBy('created_at').orderBy('id').execute();
    return rows.map(rowToDevice);
  }
}
