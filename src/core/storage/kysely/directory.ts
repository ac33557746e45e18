import { randomUUID } from 'node:crypto';
import { sql, type Updateable } from 'kysely';
import type { Device, Group, MemberRef, User, DeviceReported, ReportedField, RevocationReason } from '../../model.js';
import { StorageConflictError, type NewUser, type NewDevice, type DevicePatch, type BlockResult, type UnblockResult, type UserPatch, type UpdateUserResult, type DeleteUserResult, type RetireResult, type BeginRetireResult, type DeleteDeviceResult, type UserPageQuery, type DevicePageQuery, type NewExternalUser, type ExternalSource, type DeleteGroupResult, type DirectorySearch, type CreatedPageQuery, type UserSearchQuery, type UserSearchPage } from '../storage.js';
import type { DirectoryStore } from '../directory-store.js';
import type { Database, DeviceRow, DevicesTable, GroupRow, UserRow } from '../schema.js';
import type { Transaction } from 'kysely';
import { KyselyStore, isoTimestamp, attributesJson, isForeignKeyViolation, isUniqueViolation } from './support.js';
import { memberOf, describeMember, rowToUser, rowToDevice, rowToGroup } from './rows.js';
import { revokeOwned } from './revocation.js';
import { prepared } from './prepared.js';
import { startsWithIgnoringCase } from './prefix-search.js';
import { afterCreated, checkPageLimit } from './created-order.js';

// Read on every enrollment and check-in: compiled once per store (prepared.ts, issue 13).
const DEVICE_BY_ID = prepared('device by id', (db, p: { id: string }) => db.selectFrom('devices').selectAll().where('id', '=', p.id).where('deleted_at', 'is', null));
const USER_BY_ID = prepared('user by id', (db, p: { id: string }) => db.selectFrom('users').selectAll().where('id', '=', p.id).where('deleted_at', 'is', null));
const GROUPS_OF_DEVICE = prepared('groups of a device', (db, p: { id: string }) => db.selectFrom('group_members').select('group_id').where('device_id', '=', p.id).orderBy('group_id'));
const GROUPS_OF_USER = prepared('groups of a user', (db, p: { id: string }) => db.selectFrom('group_members').select('group_id').where('user_id', '=', p.id).orderBy('group_id'));

// Users, devices, groups and memberships, and the lifecycle transactions
// (block, retire, delete, disable). Those write certificates, memberships,
// assignments and pending removals too: each is one transaction so nothing is
// half retired or half deleted (revocation.ts holds the shared revocation walk).

/** devices column pairs (admin, reported) per reported field. */
const IDENTIFIER_COLUMNS = {
  name: ['name', 'reported_name'],
  serialNumber: ['serial_number', 'reported_serial_number'],
} as const satisfies Record<ReportedField, readonly [keyof DevicesTable, keyof DevicesTable]>;

/**
 * `lower(column) LIKE %q%` over any of `columns`, with q's own % _ and \
 * escaped: portable to SQLite and PostgreSQL (SQLite's lower() folds ASCII only).
 */
/** The row of a user synced from a directory (created at `now`; disabled then too unless the source says when). */
function externalUserRow(u: NewExternalUser, now: string): UserRow {
  return {
    id: randomUUID(),
    user_principal_name: u.userPrincipalName,
    email: u.email,
    display_name: u.displayName,
    attributes: attributesJson(u.attributes),
    created_at: now,
    disabled_at: u.enabled === false ? (u.at === undefined ? now : isoTimestamp(u.at, 'at')) : null,
    deleted_at: null,
    source: u.source,
    external_id: u.externalId,
  };
}

type MarkColumn = 'blocked_at' | 'retired_at' | 'retiring_since';

/**
 * The block / retire / begin-retire step: sets `set` on a live device whose
 * `unset` columns are all still null. Returns the updated row, or none and
 * the device as it is (so the caller can tell "already so" from "not found").
 */
async function markDevice(
  trx: Transaction<Database>,
  id: string,
  set: Partial<Record<MarkColumn, string>>,
  unset: readonly MarkColumn[],
): Promise<{ row: DeviceRow; current?: undefined } | { row: null; current: { retired_at: string | null } | undefined }> {
  let update = trx.updateTable('devices').set(set).where('id', '=', id).where('deleted_at', 'is', null);
  for (const column of unset) update = update.where(column, 'is', null);
  const row = await update.returningAll().executeTakeFirst();
  if (row) return { row };
  const current = await trx.selectFrom('devices').select('retired_at').where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
  return { row: null, current };
}

function containsIgnoringCase(columns: readonly ('user_principal_name' | 'email' | 'display_name' | 'name')[], q: string, anchored = false) {
  const pattern = `${anchored ? '' : '%'}${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<boolean>`(${sql.join(columns.map((c) => sql`lower(${sql.ref(c)}) like ${pattern} escape '\\'`), sql` or `)})`;
}

/** Matches of a user prefix search up to which they are read from the prefix indexes and sorted; past it the paging index is walked. */
const PREFIX_SORT_BOUND = 1000;

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
      source: 'local',
      external_id: null,
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
    const row = await USER_BY_ID.first(this.db, { id });
    return row ? rowToUser(row) : null;
  }

  async listUsers(search: DirectorySearch = {}): Promise<User[]> {
    let q = this.db.selectFrom('users').selectAll().where('deleted_at', 'is', null);
    if (search.q) q = q.where(containsIgnoringCase(['user_principal_name', 'email', 'display_name'], search.q));
    const rows = await q.orderBy('created_at').orderBy('id').execute();
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
      plan_generation: 0,
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
    const row = await DEVICE_BY_ID.first(this.db, { id });
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
      const mark = await markDevice(trx, id, { blocked_at: blockedAt }, ['blocked_at']);
      if (!mark.row) return { ok: false, reason: mark.current ? 'already-blocked' : 'not-found' };
      return { ok: true, device: rowToDevice(mark.row), revoked: await revokeOwned(trx, 'device_id', id, blockedAt, reason) };
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
      const mark = await markDevice(trx, id, { retired_at: stamp }, ['retired_at']);
      if (!mark.row) return { ok: false, reason: mark.current ? 'already-retired' : 'not-found' };
      return { ok: true, device: rowToDevice(mark.row), revoked: await revokeOwned(trx, 'device_id', id, stamp, reason) };
    });
  }

  async beginRetireDevice(id: string, at: string, reason: RevocationReason): Promise<BeginRetireResult> {
    const stamp = isoTimestamp(at, 'at');
    return this.db.transaction().execute(async (trx): Promise<BeginRetireResult> => {
      const mark = await markDevice(trx, id, { retiring_since: stamp }, ['retired_at', 'retiring_since']);
      if (!mark.row) {
        if (!mark.current) return { ok: false, reason: 'not-found' };
        return { ok: false, reason: mark.current.retired_at !== null ? 'already-retired' : 'already-retiring' };
      }
      return { ok: true, device: rowToDevice(mark.row), revoked: await revokeOwned(trx, 'device_id', id, stamp, reason, 'profile') };
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
    const row: GroupRow = { id: randomUUID(), name, created_at: this.stamp(), source: 'local', external_id: null };
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

  async listGroups(search: DirectorySearch = {}): Promise<Group[]> {
    let q = this.db.selectFrom('groups').selectAll();
    if (search.q) q = q.where(containsIgnoringCase(['name'], search.q));
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map(rowToGroup);
  }

  /** Keyset paging on groups_page_idx (created_at, id), migration 0020. */
  async listGroupsPage(q: CreatedPageQuery & DirectorySearch): Promise<Group[]> {
    checkPageLimit(q.limit, 'group');
    let query = this.db.selectFrom('groups').selectAll();
    if (q.q) query = query.where(containsIgnoringCase(['name'], q.q));
    if (q.after !== undefined) query = query.where(afterCreated('groups', q.after));
    const rows = await query.orderBy('created_at').orderBy('id').limit(q.limit).execute();
    return rows.map(rowToGroup);
  }

  async renameGroup(id: string, name: string): Promise<Group | null> {
    try {
      const row = await this.db.updateTable('groups').set({ name }).where('id', '=', id).returningAll().executeTakeFirst();
      return row ? rowToGroup(row) : null;
    } catch (e) {
      if (isUniqueViolation(e)) throw new StorageConflictError(`a group named ${name} already exists`, 'conflict');
      throw e;
    }
  }

  async deleteGroup(id: string): Promise<DeleteGroupResult> {
    return this.db.transaction().execute(async (trx): Promise<DeleteGroupResult> => {
      const row = await trx.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) return { ok: false, reason: 'not-found' };
      const assigned = await trx.selectFrom('assignments').select('id').where('target_kind', '=', 'group').where('target_id', '=', id).orderBy('id').execute();
      if (assigned.length > 0) return { ok: false, reason: 'has-assignments', assignments: assigned.map((a) => a.id) };
      const members = await trx.deleteFrom('group_members').where('group_id', '=', id).returning(['user_id', 'device_id']).execute();
      await trx.deleteFrom('groups').where('id', '=', id).execute();
      return { ok: true, group: rowToGroup(row), members: members.map((m) => (m.user_id !== null ? { userId: m.user_id } : { deviceId: m.device_id! })) };
    });
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
    const rows = m.userId !== null ? await GROUPS_OF_USER.execute(this.db, { id: m.userId }) : await GROUPS_OF_DEVICE.execute(this.db, { id: m.deviceId! });
    return rows.map((r) => r.group_id);
  }

  async groupsOfMembers(members: readonly MemberRef[]): Promise<string[][]> {
    if (members.length === 0) return [];
    const refs = members.map(memberOf);
    const userIds = refs.flatMap((m) => (m.userId !== null ? [m.userId] : []));
    const deviceIds = refs.flatMap((m) => (m.userId === null ? [m.deviceId!] : []));
    const rows = await this.db
      .selectFrom('group_members')
      .select(['group_id', 'user_id', 'device_id'])
      .where((eb) => eb.or([...(userIds.length > 0 ? [eb('user_id', 'in', userIds)] : []), ...(deviceIds.length > 0 ? [eb('device_id', 'in', deviceIds)] : [])]))
      .orderBy('group_id')
      .execute();
    return refs.map((m) => rows.filter((r) => (m.userId !== null ? r.user_id === m.userId : r.device_id === m.deviceId)).map((r) => r.group_id));
  }

  async listGroupMembers(groupId: string): Promise<MemberRef[]> {
    const rows = await this.db.selectFrom('group_members').select(['user_id', 'device_id']).where('group_id', '=', groupId).orderBy('created_at').execute();
    return rows.map((r) => (r.user_id !== null ? { userId: r.user_id } : { deviceId: r.device_id! }));
  }

  async listDevicesOfUser(userId: string): Promise<Device[]> {
    const rows = await this.db.selectFrom('devices').selectAll().where('user_id', '=', userId).where('deleted_at', 'is', null).orderBy('created_at').orderBy('id').execute();
    return rows.map(rowToDevice);
  }

  // ---- directory sync (docs/directory.md) ---------------------------------------------

  async listUsersPage(q: UserPageQuery): Promise<User[]> {
    if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > 10_000) throw new RangeError(`user page limit must be 1..10000, got ${q.limit}`);
    let query = this.db.selectFrom('users').selectAll().where('deleted_at', 'is', null);
    if (q.source !== undefined) query = query.where('source', '=', q.source);
    if (q.search) query = query.where(containsIgnoringCase(['user_principal_name', 'email', 'display_name'], q.search));
    if (q.prefix) query = query.where(await this.#prefixCondition(q.prefix));
    if (q.after !== undefined) {
      const { createdAt, id } = q.after;
      // The leading created_at >= is what lets both databases seek the index to the cursor; the OR alone walks it from the start.
      query = query.where('created_at', '>=', createdAt).where((eb) => eb.or([eb('created_at', '>', createdAt), eb('id', '>', id)]));
    }
    const rows = await query.orderBy('created_at').orderBy('id').limit(q.limit).execute();
    return rows.map(rowToUser);
  }

  /**
   * GET /users?contains=: no index serves a substring, so the cost is bounded
   * instead (docs/decisions.md): find where a window of `examine` entries of
   * the paging index after the cursor ends (read from the index alone:
   * deleted users and other sources count, so no row is read for it), then
   * read that window's matches as a range of the same index. Two statements,
   * at most `examine` rows read whatever the directory's size; the caller
   * follows `next` for the rest.
   */
  async searchUsersPage(q: UserSearchQuery): Promise<UserSearchPage> {
    if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > 10_000) throw new RangeError(`user page limit must be 1..10000, got ${q.limit}`);
    if (!Number.isInteger(q.examine) || q.examine < 1 || q.examine > 100_000) throw new RangeError(`users examined must be 1..100000, got ${q.examine}`);
    let window = this.db.selectFrom('users');
    if (q.after !== undefined) window = window.where('created_at', '>=', q.after.createdAt).where((eb) => eb.or([eb('created_at', '>', q.after!.createdAt), eb('id', '>', q.after!.id)]));
    const end = await window.select(['created_at', 'id']).orderBy('created_at').orderBy('id').limit(1).offset(q.examine - 1).executeTakeFirst();
    let matches = window.selectAll().where('deleted_at', 'is', null).where(containsIgnoringCase(['user_principal_name', 'email', 'display_name'], q.contains));
    if (q.source !== undefined) matches = matches.where('source', '=', q.source);
    if (end) matches = matches.where('created_at', '<=', end.created_at).where((eb) => eb.or([eb('created_at', '<', end.created_at), eb('id', '<=', end.id)]));
    const rows = await matches.orderBy('created_at').orderBy('id').limit(q.limit + 1).execute();
    const page = rows.slice(0, q.limit);
    // A full page resumes after its last match; otherwise after the window (null: nothing was left to read).
    const resume = rows.length > q.limit ? page[page.length - 1]! : end;
    return { users: page.map(rowToUser), next: resume ? { createdAt: resume.created_at, id: resume.id } : null };
  }

  /**
   * GET /users?q=: a prefix few users share is read from the lower(column)
   * index ranges (0020) and its matches sorted into the page order; one that
   * many share (`q=u`) would sort them all (40 ms at 50,000 users), while
   * walking the paging index finds a page of them within a few hundred rows.
   * So count the matches up to a bound first (index entries only) and pick.
   * LIKE on lower(column) is the walk: no index serves LIKE on an expression in SQLite.
   */
  async #prefixCondition(prefix: string) {
    const columns = ['user_principal_name', 'email', 'display_name'] as const;
    const ranges = startsWithIgnoringCase(columns, prefix, this.dialect);
    const few = this.db.selectFrom('users').select('id').where(ranges).limit(PREFIX_SORT_BOUND);
    const { n } = await this.db.selectFrom(few.as('few')).select((eb) => eb.fn.countAll<number | string | bigint>().as('n')).executeTakeFirstOrThrow();
    return Number(n) < PREFIX_SORT_BOUND ? ranges : containsIgnoringCase(columns, prefix, true);
  }

  /** Keyset paging on devices_page_idx (created_at, id), migration 0019: the index walk stops at the limit. */
  async listDevicesPage(q: DevicePageQuery): Promise<Device[]> {
    if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > 10_000) throw new RangeError(`device page limit must be 1..10000, got ${q.limit}`);
    let query = this.db.selectFrom('devices').selectAll().where('deleted_at', 'is', null);
    if (q.after !== undefined) {
      const { createdAt, id } = q.after;
      // The leading created_at >= is what lets both databases seek the index to the cursor; the OR alone walks it from the start.
      query = query.where('created_at', '>=', createdAt).where((eb) => eb.or([eb('created_at', '>', createdAt), eb('id', '>', id)]));
    }
    const rows = await query.orderBy('created_at').orderBy('id').limit(q.limit).execute();
    return rows.map(rowToDevice);
  }

  async createExternalUser(u: NewExternalUser): Promise<User> {
    const now = this.stamp();
    const row = externalUserRow(u, now);
    try {
      await this.db.insertInto('users').values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw new StorageConflictError(`a user with userPrincipalName ${u.userPrincipalName} or ${u.source} id ${u.externalId} already exists`, 'conflict');
      throw e;
    }
    return rowToUser(row);
  }

  async createExternalUsers(users: readonly NewExternalUser[]): Promise<User[]> {
    const now = this.stamp();
    const rows = users.map((u) => externalUserRow(u, now));
    try {
      await this.db.transaction().execute(async (trx) => {
        // Chunks keep each statement under SQLite's bound-parameter limit (10 columns a row).
        for (let i = 0; i < rows.length; i += 50) await trx.insertInto('users').values(rows.slice(i, i + 50)).execute();
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new StorageConflictError('a userPrincipalName or external id among these users is already taken', 'conflict');
      throw e;
    }
    return rows.map(rowToUser);
  }

  async renameUser(id: string, userPrincipalName: string): Promise<User | null> {
    try {
      const row = await this.db.updateTable('users').set({ user_principal_name: userPrincipalName }).where('id', '=', id).where('deleted_at', 'is', null).returningAll().executeTakeFirst();
      return row ? rowToUser(row) : null;
    } catch (e) {
      if (isUniqueViolation(e)) throw new StorageConflictError(`a user with userPrincipalName ${userPrincipalName} already exists`, 'conflict');
      throw e;
    }
  }

  async createExternalGroup(name: string, source: ExternalSource, externalId: string): Promise<Group> {
    const row: GroupRow = { id: randomUUID(), name, created_at: this.stamp(), source, external_id: externalId };
    try {
      await this.db.insertInto('groups').values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw new StorageConflictError(`a group named ${name} or with ${source} id ${externalId} already exists`, 'conflict');
      throw e;
    }
    return rowToGroup(row);
  }

  async setGroupUserMembers(groupId: string, userIds: readonly string[]): Promise<{ added: string[]; removed: string[] }> {
    const wanted = new Set(userIds);
    const createdAt = this.stamp();
    return this.db.transaction().execute(async (trx) => {
      const group = await trx.selectFrom('groups').select('id').where('id', '=', groupId).executeTakeFirst();
      if (!group) throw new StorageConflictError(`unknown group ${groupId}`, 'not-found');
      const current = new Set((await trx.selectFrom('group_members').select('user_id').where('group_id', '=', groupId).where('user_id', 'is not', null).execute()).map((r) => r.user_id!));
      const added = [...wanted].filter((id) => !current.has(id)).sort();
      const removed = [...current].filter((id) => !wanted.has(id)).sort();
      // Chunks keep each statement under SQLite's bound-parameter limit.
      for (let i = 0; i < added.length; i += 200) {
        const chunk = added.slice(i, i + 200);
        const live = await trx.selectFrom('users').select('id').where('id', 'in', chunk).where('deleted_at', 'is', null).execute();
        if (live.length !== chunk.length) {
          const known = new Set(live.map((r) => r.id));
          throw new StorageConflictError(`unknown user ${chunk.find((id) => !known.has(id))}`, 'not-found');
        }
        await trx
          .insertInto('group_members')
          .values(chunk.map((id) => ({ group_id: groupId, user_id: id, device_id: null, created_at: createdAt })))
          .execute();
      }
      for (let i = 0; i < removed.length; i += 200) {
        await trx.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', 'in', removed.slice(i, i + 200)).execute();
      }
      return { added, removed };
    });
  }
}
