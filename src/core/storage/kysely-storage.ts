import { randomUUID } from 'node:crypto';
import type { Kysely, SelectQueryBuilder, Transaction, Updateable } from 'kysely';
import type {
  Assignment,
  AssignmentTarget,
  AuditEvent,
  CertificateKind,
  Device,
  Enrollment,
  EnrollmentStatus,
  Group,
  IssuedCertificate,
  MemberRef,
  Platform,
  Profile,
  ProfileSpec,
  ResolvedRequest,
  User,
  Attributes,
  DeviceReported,
  ReportedField,
  DeliveryState,
  DeliveryStatus,
  RevocationReason,
  PendingRemoval,
} from '../model.js';
import { DELIVERY_STATES } from '../model.js';
import { boundedRecord, truncateString } from '../bounded.js';
import { migrateToLatest, pendingMigrations, type SqlDialect } from './migrations.js';
import { AdapterSupportStore } from './adapter-support.js';
import { UpstreamRequestStore } from './upstream-requests.js';
import { isForeignKeyViolation, isUniqueViolation } from './db-errors.js';

export { isForeignKeyViolation, isUniqueViolation };
import type {
  AssignmentRow,
  AuditEventRow,
  CertificateRow,
  Database,
  DeviceRow,
  DevicesTable,
  EnrollmentRow,
  GroupRow,
  NewCertificateRow,
  TargetKind,
  UserRow,
} from './schema.js';
import {
  StorageConflictError,
  type AuditFilter,
  type BlockResult,
  type CertificateFilter,
  type CertificateStatus,
  type ChallengeUse,
  type ConsumeResult,
  type DevicePatch,
  type NewCertificate,
  type NewDevice,
  type NewEnrollment,
  type NewUser,
  type RevokedEntry,
  type RevokedSetState,
  type RevokeResult,
  type Storage,
  type UnblockResult,
  type UserPatch,
  type UpdateUserResult,
  type DeleteUserResult,
  type RetireResult,
  type BeginRetireResult,
  type DeleteDeviceResult,
} from './storage.js';

// The Storage implementation over Kysely. Dialect-independent on purpose: only
// portable SQL (INSERT/UPDATE/DELETE ... RETURNING, ON CONFLICT DO NOTHING,
// plain joins), errors classified by both SQLite and PostgreSQL codes, and
// values converted the same way whatever the driver returns (Buffer -> Uint8Array,
// int8 strings -> numbers, JSON text -> objects).

export interface KyselyStorageOptions {
  dialect: SqlDialect;
  /** Clock for created/updated/used timestamps; tests may inject one. */
  now?: () => Date;
}

/** Thrown inside a transaction to roll it back and hand a result to the caller. */
class Rollback<T> {
  constructor(readonly result: T) {}
}

// ---- value conversion -------------------------------------------------------

/** Normalises a timestamp to Date#toISOString() form so text order is time order. */
function isoTimestamp(value: string, what: string): string {
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new RangeError(`${what} is not an ISO-8601 timestamp: ${JSON.stringify(value)}`);
  return new Date(t).toISOString();
}

function toBuffer(bytes: Uint8Array, what: string): Buffer {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A plain Uint8Array copy (not a Buffer view into a driver-owned pool). */
function toBytes(value: Uint8Array): Uint8Array {
  return new Uint8Array(value);
}

function toNumber(value: number | string | bigint): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`database integer out of range: ${String(value)}`);
  return n;
}

/** An audit column (type, actor, reason code, transaction id): at most 256 characters. */
function cut(value: string | null | undefined): string | null {
  return value === null || value === undefined ? null : truncateString(value, 256);
}

function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

function attributesJson(attributes: Attributes | undefined): string {
  return JSON.stringify(attributes ?? {});
}

/** The spec as stored: any Profile-only fields a caller passed along are dropped. */
function specJson(spec: ProfileSpec): string {
  const { id: _id, version: _version, createdAt: _c, updatedAt: _u, ...rest } = spec as ProfileSpec &
    Partial<Pick<Profile, 'id' | 'version' | 'createdAt' | 'updatedAt'>>;
  return JSON.stringify(rest);
}

function targetOf(t: AssignmentTarget): { kind: TargetKind; id: string } {
  const keys = (['userId', 'deviceId', 'groupId'] as const).filter((k) => k in t && (t as Record<string, unknown>)[k] != null);
  if (keys.length !== 1) throw new TypeError('an assignment target names exactly one of userId, deviceId, groupId');
  const key = keys[0]!;
  const id = (t as Record<string, unknown>)[key];
  if (typeof id !== 'string') throw new TypeError(`${key} must be a string`);
  return { kind: key === 'userId' ? 'user' : key === 'deviceId' ? 'device' : 'group', id };
}

function memberOf(m: MemberRef): { userId: string | null; deviceId: string | null } {
  const t = targetOf(m);
  if (t.kind === 'group') throw new TypeError('a group member is a userId or a deviceId');
  return t.kind === 'user' ? { userId: t.id, deviceId: null } : { userId: null, deviceId: t.id };
}

function describeMember(m: { userId: string | null; deviceId: string | null }): string {
  return m.userId !== null ? `user ${m.userId}` : `device ${m.deviceId}`;
}

function rowToUser(r: UserRow): User {
  return {
    id: r.id,
    userPrincipalName: r.user_principal_name,
    email: r.email,
    displayName: r.display_name,
    attributes: parseJson<Attributes>(r.attributes),
    createdAt: r.created_at,
    enabled: r.disabled_at === null,
    disabledAt: r.disabled_at,
  };
}

function rowToDevice(r: DeviceRow): Device {
  return {
    id: r.id,
    name: r.name === '' ? null : r.name,
    platform: r.platform as Platform,
    serialNumber: r.serial_number,
    userId: r.user_id,
    attributes: parseJson<Attributes>(r.attributes),
    reported: {
      name: r.reported_name,
      serialNumber: r.reported_serial_number,
      conflicts: parseJson<ReportedField[]>(r.reported_conflicts),
      updatedAt: r.reported_at,
    },
    createdAt: r.created_at,
    blockedAt: r.blocked_at,
    retiredAt: r.retired_at,
    retiringSince: r.retiring_since ?? null,
  };
}

/** devices column pairs (admin, reported) per reported field. */
const IDENTIFIER_COLUMNS = {
  name: ['name', 'reported_name'],
  serialNumber: ['serial_number', 'reported_serial_number'],
} as const satisfies Record<ReportedField, readonly [keyof DevicesTable, keyof DevicesTable]>;

function rowToGroup(r: GroupRow): Group {
  return { id: r.id, name: r.name, createdAt: r.created_at };
}

function rowToAssignment(r: AssignmentRow): Assignment {
  const target: AssignmentTarget =
    r.target_kind === 'user'
      ? { userId: r.target_id }
      : r.target_kind === 'device'
        ? { deviceId: r.target_id }
        : { groupId: r.target_id };
  return { id: r.id, profileId: r.profile_id, target, createdAt: r.created_at };
}

function rowToEnrollment(r: EnrollmentRow): Enrollment {
  return {
    transactionId: r.transaction_id,
    status: r.status as EnrollmentStatus,
    kind: r.kind as CertificateKind,
    challengeId: r.challenge_id,
    profileId: r.profile_id,
    profileVersion: r.profile_version === null ? null : toNumber(r.profile_version),
    deviceId: r.device_id,
    userId: r.user_id,
    csrSha256: r.csr_sha256,
    csrDer: toBytes(r.csr_der),
    resolved: r.resolved === null ? null : parseJson<ResolvedRequest>(r.resolved),
    renewalOf: r.renewal_of,
    certificateSerial: r.certificate_serial,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function rowToCertificate(r: CertificateRow): IssuedCertificate {
  return {
    serialNumber: r.serial_number,
    kind: r.kind as CertificateKind,
    subject: r.subject,
    notBefore: r.not_before,
    notAfter: r.not_after,
    thumbprint: r.thumbprint,
    sha256: r.sha256,
    transactionId: r.transaction_id,
    profileId: r.profile_id,
    profileVersion: r.profile_version === null ? null : toNumber(r.profile_version),
    deviceId: r.device_id,
    userId: r.user_id,
    der: toBytes(r.der),
    issuedAt: r.issued_at,
    revokedAt: r.revoked_at,
    revocationReason: r.revocation_reason as RevocationReason | null,
    renewalOf: r.renewal_of,
    issuerId: r.issuer_id,
  };
}

function rowToAudit(r: AuditEventRow): AuditEvent {
  return {
    id: toNumber(r.id),
    at: r.at,
    transactionId: r.transaction_id,
    type: r.type,
    reasonCode: r.reason_code,
    actor: r.actor,
    details: parseJson<Record<string, unknown>>(r.details),
  };
}

interface ProfileJoinRow {
  id: string;
  created_at: string;
  version: number | string;
  spec: string;
  version_created_at: string;
}

function rowToProfile(r: ProfileJoinRow): Profile {
  const spec = parseJson<Partial<ProfileSpec>>(r.spec) as ProfileSpec;
  return {
    ...spec,
    // Specs stored before 0006 have no revokeOnRemoval: the default applies.
    revokeOnRemoval: spec.revokeOnRemoval ?? true,
    id: r.id,
    version: toNumber(r.version),
    createdAt: r.created_at,
    // A version is immutable, so "updated" is when this version was written.
    updatedAt: r.version_created_at,
  };
}

type Db = Kysely<Database> | Transaction<Database>;

// ---- the storage --------------------------------------------------------------

export class KyselyStorage implements Storage {
  readonly dialect: SqlDialect;
  readonly #now: () => Date;
  readonly #adapters: AdapterSupportStore;
  #closed = false;

  constructor(
    readonly db: Kysely<Database>,
    options: KyselyStorageOptions,
  ) {
    this.dialect = options.dialect;
    this.#now = options.now ?? (() => new Date());
    this.#adapters = new AdapterSupportStore(db, () => this.#stamp());
  }

  // ---- adapter support (enrollment tokens, command queue, platform state, settings)
  createEnrollmentToken: Storage['createEnrollmentToken'] = (t) => this.#adapters.createEnrollmentToken(t);
  consumeEnrollmentToken: Storage['consumeEnrollmentToken'] = (h, p, now) => this.#adapters.consumeEnrollmentToken(h, p, now);
  peekEnrollmentToken: Storage['peekEnrollmentToken'] = (h, p, now) => this.#adapters.peekEnrollmentToken(h, p, now);
  enqueueCommand: Storage['enqueueCommand'] = (c) => this.#adapters.enqueueCommand(c);
  nextCommand: Storage['nextCommand'] = (d, ch, skip) => this.#adapters.nextCommand(d, ch, skip);
  updateCommand: Storage['updateCommand'] = (id, d, st, r) => this.#adapters.updateCommand(id, d, st, r);
  listCommands: Storage['listCommands'] = (f) => this.#adapters.listCommands(f);
  purgeAnsweredCommands: Storage['purgeAnsweredCommands'] = (b, k) => this.#adapters.purgeAnsweredCommands(isoTimestamp(b, 'before'), k);
  getPlatformState: Storage['getPlatformState'] = (d, a) => this.#adapters.getPlatformState(d, a);
  putPlatformState: Storage['putPlatformState'] = (d, a, st) => this.#adapters.putPlatformState(d, a, st);
  getSetting: Storage['getSetting'] = (k) => this.#adapters.getSetting(k);
  putSetting: Storage['putSetting'] = (k, v) => this.#adapters.putSetting(k, v);

  // ---- lifecycle ------------------------------------------------------------------

  #stamp(): string {
    return this.#now().toISOString();
  }

  async migrate(): Promise<void> {
    await migrateToLatest(this.db, this.dialect);
  }

  async pendingMigrations(): Promise<string[]> {
    return pendingMigrations(this.db, this.dialect);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.db.destroy();
  }

  // ---- directory ----------------------------------------------------------------

  async createUser(u: NewUser): Promise<User> {
    const row: UserRow = {
      id: randomUUID(),
      user_principal_name: u.userPrincipalName,
      email: u.email,
      display_name: u.displayName,
      attributes: attributesJson(u.attributes),
      created_at: this.#stamp(),
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
      created_at: this.#stamp(),
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
      return { ok: true, device: rowToDevice(row), revoked: await this.#revokeOwned(trx, 'device_id', id, blockedAt, reason) };
    });
  }

  // ---- lifecycle ------------------------------------------------------------------

  /**
   * Revokes the unrevoked certificates whose `column` is `id` (profile ones
   * only when `kind` says so), then their renewals; returns the serials newly
   * revoked, own ones first.
   */
  async #revokeOwned(
    trx: Transaction<Database>,
    column: 'device_id' | 'user_id',
    id: string,
    at: string,
    reason: RevocationReason,
    kind?: CertificateKind,
  ): Promise<string[]> {
    let q = trx.selectFrom('certificates').select(['serial_number', 'revoked_at']).where(column, '=', id);
    if (kind) q = q.where('kind', '=', kind);
    const own = await q.orderBy('issued_at').orderBy('serial_number').execute();
    const current = own.filter((c) => c.revoked_at === null).map((c) => c.serial_number);
    if (current.length > 0) {
      await trx
        .updateTable('certificates')
        .set({ revoked_at: at, revocation_reason: reason })
        .where('serial_number', 'in', current)
        .where('revoked_at', 'is', null)
        .execute();
    }
    const successors = await this.#revokeSuccessors(trx, own.map((c) => c.serial_number), at, reason);
    // Revoked certificates no longer wait for a removal.
    const done = [...current, ...successors];
    if (done.length > 0) await trx.deleteFrom('pending_removals').where('serial_number', 'in', done).execute();
    return done;
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
      const revoked = patch.enabled === false ? await this.#revokeOwned(trx, 'user_id', id, stamp, reason, 'profile') : [];
      return { ok: true, user: rowToUser(row), revoked };
    });
  }

  async deleteUser(id: string, at: string, reason: RevocationReason): Promise<DeleteUserResult> {
    const stamp = isoTimestamp(at, 'at');
    return this.db.transaction().execute(async (trx): Promise<DeleteUserResult> => {
      const row = await trx.updateTable('users').set({ deleted_at: stamp }).where('id', '=', id).where('deleted_at', 'is', null).returningAll().executeTakeFirst();
      if (!row) return { ok: false, reason: 'not-found' };
      const revoked = await this.#revokeOwned(trx, 'user_id', id, stamp, reason, 'profile');
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
      return { ok: true, device: rowToDevice(row), revoked: await this.#revokeOwned(trx, 'device_id', id, stamp, reason) };
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
      return { ok: true, device: rowToDevice(row), revoked: await this.#revokeOwned(trx, 'device_id', id, stamp, reason, 'profile') };
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
      const revoked = await this.#revokeOwned(trx, 'device_id', id, stamp, reason);
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
      return this.#revokeOwned(trx, 'device_id', id, stamp, reason);
    });
  }

  async addPendingRemovals(entries: Omit<PendingRemoval, 'since'>[], since: string): Promise<PendingRemoval[]> {
    const stamp = isoTimestamp(since, 'since');
    if (entries.length === 0) return [];
    return this.db.transaction().execute(async (trx) => {
      const added: PendingRemoval[] = [];
      for (const e of entries) {
        const row = await trx
          .insertInto('pending_removals')
          .values({ serial_number: e.serialNumber, device_id: e.deviceId, profile_id: e.profileId, since: stamp })
          .onConflict((oc) => oc.column('serial_number').doNothing())
          .returning('serial_number')
          .executeTakeFirst();
        if (row) added.push({ ...e, since: stamp });
      }
      return added;
    });
  }

  async listPendingRemovals(filter?: { deviceId?: string; before?: string }): Promise<PendingRemoval[]> {
    let q = this.db.selectFrom('pending_removals').selectAll();
    if (filter?.deviceId !== undefined) q = q.where('device_id', '=', filter.deviceId);
    if (filter?.before !== undefined) q = q.where('since', '<', isoTimestamp(filter.before, 'before'));
    const rows = await q.orderBy('since').orderBy('serial_number').execute();
    return rows.map((r) => ({ serialNumber: r.serial_number, deviceId: r.device_id, profileId: r.profile_id, since: r.since }));
  }

  async cancelPendingRemovals(serialNumbers: string[]): Promise<number> {
    if (serialNumbers.length === 0) return 0;
    const result = await this.db.deleteFrom('pending_removals').where('serial_number', 'in', serialNumbers).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async revokePendingRemoval(serialNumber: string, at: string, reason: RevocationReason): Promise<string[] | null> {
    const stamp = isoTimestamp(at, 'at');
    return this.db.transaction().execute(async (trx) => {
      const gone = await trx.deleteFrom('pending_removals').where('serial_number', '=', serialNumber).executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0) return null;
      const root = await trx
        .updateTable('certificates')
        .set({ revoked_at: stamp, revocation_reason: reason })
        .where('serial_number', '=', serialNumber)
        .where('revoked_at', 'is', null)
        .returning('serial_number')
        .executeTakeFirst();
      if (!root) return [];
      return [serialNumber, ...(await this.#revokeSuccessors(trx, [serialNumber], stamp, reason))];
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
    const row: GroupRow = { id: randomUUID(), name, created_at: this.#stamp() };
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
    const createdAt = this.#stamp();
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

  // ---- profiles -----------------------------------------------------------------

  #profileQuery(db: Db) {
    return db
      .selectFrom('profiles as p')
      .innerJoin('profile_versions as v', 'v.profile_id', 'p.id')
      .select(['p.id as id', 'p.created_at as created_at', 'v.version as version', 'v.spec as spec', 'v.created_at as version_created_at']);
  }

  async createProfile(spec: ProfileSpec): Promise<Profile> {
    const id = randomUUID();
    const now = this.#stamp();
    const json = specJson(spec);
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('profiles')
        .values({ id, current_version: 1, deleted_at: null, created_at: now, updated_at: now })
        .execute();
      await trx.insertInto('profile_versions').values({ profile_id: id, version: 1, spec: json, created_at: now }).execute();
    });
    return rowToProfile({ id, created_at: now, version: 1, spec: json, version_created_at: now });
  }

  async updateProfile(id: string, spec: ProfileSpec): Promise<Profile | null> {
    const now = this.#stamp();
    const json = specJson(spec);
    return this.db.transaction().execute(async (trx) => {
      // The UPDATE takes the row's write lock first, so concurrent updates of one
      // profile serialise and each gets its own version number.
      const bumped = await trx
        .updateTable('profiles')
        .set((eb) => ({ current_version: eb('current_version', '+', 1), updated_at: now }))
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .returning(['current_version', 'created_at'])
        .executeTakeFirst();
      if (!bumped) return null;
      const version = toNumber(bumped.current_version);
      await trx.insertInto('profile_versions').values({ profile_id: id, version, spec: json, created_at: now }).execute();
      return rowToProfile({ id, created_at: bumped.created_at, version, spec: json, version_created_at: now });
    });
  }

  async getProfile(id: string, version?: number): Promise<Profile | null> {
    let q = this.#profileQuery(this.db).where('p.id', '=', id);
    q =
      version === undefined
        ? q.whereRef('v.version', '=', 'p.current_version').where('p.deleted_at', 'is', null)
        : q.where('v.version', '=', version);
    const row = await q.executeTakeFirst();
    return row ? rowToProfile(row) : null;
  }

  async listProfiles(): Promise<Profile[]> {
    const rows = await this.#profileQuery(this.db)
      .whereRef('v.version', '=', 'p.current_version')
      .where('p.deleted_at', 'is', null)
      .orderBy('p.created_at')
      .orderBy('p.id')
      .execute();
    return rows.map(rowToProfile);
  }

  async deleteProfile(id: string): Promise<boolean> {
    const now = this.#stamp();
    return this.db.transaction().execute(async (trx) => {
      const deleted = await trx
        .updateTable('profiles')
        .set({ deleted_at: now, updated_at: now })
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (Number(deleted.numUpdatedRows) === 0) return false;
      await trx.deleteFrom('assignments').where('profile_id', '=', id).execute();
      return true;
    });
  }

  // ---- assignments ----------------------------------------------------------------

  async createAssignment(profileId: string, target: AssignmentTarget): Promise<Assignment> {
    const t = targetOf(target);
    const row: AssignmentRow = {
      id: randomUUID(),
      profile_id: profileId,
      target_kind: t.kind,
      target_id: t.id,
      created_at: this.#stamp(),
    };
    await this.db.transaction().execute(async (trx) => {
      const profile = await trx
        .selectFrom('profiles')
        .select('id')
        .where('id', '=', profileId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (!profile) throw new StorageConflictError(`unknown profile ${profileId}`, 'not-found');
      const found =
        t.kind === 'group'
          ? await trx.selectFrom('groups').select('id').where('id', '=', t.id).executeTakeFirst()
          : await trx
              .selectFrom(t.kind === 'user' ? 'users' : 'devices')
              .select('id')
              .where('id', '=', t.id)
              .where('deleted_at', 'is', null)
              .executeTakeFirst();
      if (!found) throw new StorageConflictError(`unknown ${t.kind} ${t.id}`, 'not-found');
      try {
        await trx.insertInto('assignments').values(row).execute();
      } catch (e) {
        if (isUniqueViolation(e)) {
          throw new StorageConflictError(`profile ${profileId} is already assigned to ${t.kind} ${t.id}`, 'conflict');
        }
        if (isForeignKeyViolation(e)) throw new StorageConflictError(`unknown profile ${profileId}`, 'not-found');
        throw e;
      }
    });
    return rowToAssignment(row);
  }

  async listAssignments(filter?: { profileId?: string }): Promise<Assignment[]> {
    let q = this.db.selectFrom('assignments').selectAll();
    if (filter?.profileId !== undefined) q = q.where('profile_id', '=', filter.profileId);
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map(rowToAssignment);
  }

  async deleteAssignment(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('assignments').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async assignmentsFor(targets: AssignmentTarget[]): Promise<Assignment[]> {
    const byKind = new Map<TargetKind, Set<string>>();
    for (const target of targets) {
      const t = targetOf(target);
      let ids = byKind.get(t.kind);
      if (!ids) byKind.set(t.kind, (ids = new Set()));
      ids.add(t.id);
    }
    if (byKind.size === 0) return [];
    const rows = await this.db
      .selectFrom('assignments')
      .selectAll()
      .where((eb) =>
        eb.or(
          [...byKind].map(([kind, ids]) => eb.and([eb('target_kind', '=', kind), eb('target_id', 'in', [...ids])])),
        ),
      )
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(rowToAssignment);
  }

  // ---- enrollments and certificates -------------------------------------------

  #certificateRow(c: NewCertificate, issuedAt: string): NewCertificateRow {
    return {
      serial_number: c.serialNumber,
      kind: c.kind,
      subject: c.subject,
      not_before: isoTimestamp(c.notBefore, 'notBefore'),
      not_after: isoTimestamp(c.notAfter, 'notAfter'),
      thumbprint: c.thumbprint,
      sha256: c.sha256,
      transaction_id: c.transactionId,
      profile_id: c.profileId,
      profile_version: c.profileVersion,
      device_id: c.deviceId,
      user_id: c.userId,
      der: toBuffer(c.der, 'certificate.der'),
      issued_at: issuedAt,
      revoked_at: null,
      revocation_reason: null,
      renewal_of: c.renewalOf ?? null,
      issuer_id: c.issuerId ?? null,
    };
  }

  /**
   * Inside an issuance transaction: what may have changed since the policy
   * said yes. Both reads are no-op UPDATEs so they take the row's write lock:
   * a concurrent blockDevice / revokeCertificateChain either committed first
   * (and is seen here) or waits for this transaction and then finds the new
   * certificate to revoke. (SQLite serialises write transactions anyway.)
   * A device we have no record of is not ours to block (the CRP checked the
   * target); an unknown predecessor counts as revoked.
   */
  async #issuanceRefusal(
    trx: Transaction<Database>,
    deviceId: string | null,
    renewalOf: string | null,
  ): Promise<'device-blocked' | 'predecessor-revoked' | null> {
    if (deviceId !== null) {
      const device = await trx
        .updateTable('devices')
        .set((eb) => ({ blocked_at: eb.ref('blocked_at') }))
        .where('id', '=', deviceId)
        .returning(['blocked_at', 'retired_at', 'retiring_since'])
        .executeTakeFirst();
      // A retired or retiring (or deleted, which retires) device gets no certificate either.
      if (device && (device.blocked_at !== null || device.retired_at !== null || device.retiring_since !== null)) return 'device-blocked';
    }
    if (renewalOf !== null) {
      const predecessor = await trx
        .updateTable('certificates')
        .set((eb) => ({ revoked_at: eb.ref('revoked_at') }))
        .where('serial_number', '=', renewalOf)
        .returning('revoked_at')
        .executeTakeFirst();
      if (!predecessor || predecessor.revoked_at !== null) return 'predecessor-revoked';
    }
    return null;
  }

  /**
   * Revokes every certificate renewed from `roots`, transitively, breadth
   * first; returns the serials newly revoked. Already revoked successors are
   * walked through (their own renewals still get revoked) but keep their time
   * and reason. `seen` guards against a cycle a corrupted table could hold.
   */
  async #revokeSuccessors(trx: Transaction<Database>, roots: string[], at: string, reason: RevocationReason): Promise<string[]> {
    const seen = new Set(roots);
    const revoked: string[] = [];
    let frontier = roots;
    while (frontier.length > 0) {
      const rows = await trx
        .selectFrom('certificates')
        .select('serial_number')
        .where('renewal_of', 'in', frontier)
        .orderBy('issued_at')
        .orderBy('serial_number')
        .execute();
      const next = rows.map((r) => r.serial_number).filter((serial) => !seen.has(serial));
      for (const serial of next) seen.add(serial);
      if (next.length > 0) {
        const updated = await trx
          .updateTable('certificates')
          .set({ revoked_at: at, revocation_reason: reason })
          .where('serial_number', 'in', next)
          .where('revoked_at', 'is', null)
          .returning('serial_number')
          .execute();
        const done = new Set(updated.map((r) => r.serial_number));
        revoked.push(...next.filter((serial) => done.has(serial)));
      }
      frontier = next;
    }
    return revoked;
  }

  async #insertCertificate(trx: Transaction<Database>, row: NewCertificateRow): Promise<void> {
    try {
      await trx.insertInto('certificates').values(row).execute();
    } catch (e) {
      if (isUniqueViolation(e)) {
        throw new StorageConflictError(`a certificate with serial number ${row.serial_number} already exists`, 'conflict');
      }
      throw e;
    }
  }

  async getEnrollment(transactionId: string): Promise<Enrollment | null> {
    const row = await this.db.selectFrom('enrollments').selectAll().where('transaction_id', '=', transactionId).executeTakeFirst();
    return row ? rowToEnrollment(row) : null;
  }

  async listRecentEnrollments(limit: number): Promise<Enrollment[]> {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`enrollment limit must be a positive integer, got ${limit}`);
    // enrollments_created_at_idx (0011) serves the order and the limit.
    const rows = await this.db
      .selectFrom('enrollments')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('transaction_id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(rowToEnrollment);
  }

  async recordEnrollment(
    challenge: ChallengeUse | null,
    enrollment: NewEnrollment,
    certificate: NewCertificate | null,
  ): Promise<ConsumeResult> {
    if ((certificate !== null) !== (enrollment.status === 'issued')) {
      throw new TypeError('recordEnrollment: a certificate is given exactly when the enrollment status is "issued"');
    }
    if (challenge !== null && enrollment.challengeId != null && enrollment.challengeId !== challenge.id) {
      throw new TypeError('recordEnrollment: enrollment.challengeId differs from the challenge being spent');
    }
    const now = this.#stamp();
    const challengeRow = challenge && {
      id: challenge.id,
      transaction_id: enrollment.transactionId,
      used_at: now,
      expires_at: isoTimestamp(challenge.expiresAt, 'challenge.expiresAt'),
    };
    const enrollmentRow = {
      transaction_id: enrollment.transactionId,
      status: enrollment.status,
      kind: enrollment.kind,
      challenge_id: enrollment.challengeId ?? challenge?.id ?? null,
      profile_id: enrollment.profileId,
      profile_version: enrollment.profileVersion,
      device_id: enrollment.deviceId,
      user_id: enrollment.userId,
      csr_sha256: enrollment.csrSha256,
      csr_der: toBuffer(enrollment.csrDer, 'enrollment.csrDer'),
      resolved: enrollment.resolved === null ? null : JSON.stringify(enrollment.resolved),
      renewal_of: enrollment.renewalOf ?? null,
      certificate_serial: certificate?.serialNumber ?? null,
      created_at: now,
      updated_at: now,
    };
    const certificateRow = certificate && this.#certificateRow(certificate, now);

    try {
      await this.db.transaction().execute(async (trx) => {
        // An identity challenge minted to renew an identity: what it renews (noteIdentityRenewalChallenge).
        if (challengeRow && enrollmentRow.renewal_of === null) {
          const link = await trx.selectFrom('identity_renewal_challenges').select('renewal_of').where('challenge_id', '=', challengeRow.id).executeTakeFirst();
          if (link) enrollmentRow.renewal_of = link.renewal_of;
        }
        // The enrollment first: a retried request that also re-spends its own
        // challenge is reported as transaction-exists, which lets the caller
        // answer from the stored enrollment.
        try {
          await trx.insertInto('enrollments').values(enrollmentRow).execute();
        } catch (e) {
          if (isUniqueViolation(e)) throw new Rollback<ConsumeResult>({ ok: false, reason: 'transaction-exists' });
          throw e;
        }
        if (challengeRow) {
          try {
            await trx.insertInto('used_challenges').values(challengeRow).execute();
          } catch (e) {
            if (isUniqueViolation(e)) throw new Rollback<ConsumeResult>({ ok: false, reason: 'challenge-used' });
            throw e;
          }
        }
        if (certificateRow) {
          const refusal = await this.#issuanceRefusal(trx, certificateRow.device_id ?? null, certificateRow.renewal_of ?? enrollmentRow.renewal_of);
          if (refusal) throw new Rollback<ConsumeResult>({ ok: false, reason: refusal });
          await this.#insertCertificate(trx, { ...certificateRow, renewal_of: certificateRow.renewal_of ?? enrollmentRow.renewal_of });
        }
      });
    } catch (e) {
      if (e instanceof Rollback) return e.result as ConsumeResult;
      throw e;
    }
    return { ok: true };
  }

  async completeEnrollment(transactionId: string, certificate: NewCertificate): Promise<boolean> {
    const now = this.#stamp();
    const certificateRow = this.#certificateRow(certificate, now);
    return this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('enrollments')
        .set({ status: 'issued', certificate_serial: certificate.serialNumber, updated_at: now })
        .where('transaction_id', '=', transactionId)
        .where('status', '=', 'pending')
        .returning(['renewal_of'])
        .executeTakeFirst();
      if (!updated) return false;
      const renewalOf = certificateRow.renewal_of ?? updated.renewal_of;
      const refusal = await this.#issuanceRefusal(trx, certificateRow.device_id ?? null, renewalOf);
      if (refusal === 'device-blocked') throw new StorageConflictError(`device ${certificateRow.device_id} is blocked`, 'conflict');
      if (refusal) throw new StorageConflictError(`the certificate this enrollment renews (${renewalOf}) is revoked`, 'conflict');
      await this.#insertCertificate(trx, { ...certificateRow, renewal_of: renewalOf });
      return true;
    });
  }

  async rejectEnrollment(transactionId: string): Promise<boolean> {
    const result = await this.db
      .updateTable('enrollments')
      .set({ status: 'rejected', updated_at: this.#stamp() })
      .where('transaction_id', '=', transactionId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async getCertificate(serialNumber: string): Promise<IssuedCertificate | null> {
    const row = await this.db.selectFrom('certificates').selectAll().where('serial_number', '=', serialNumber).executeTakeFirst();
    return row ? rowToCertificate(row) : null;
  }

  async listCertificates(filter: CertificateFilter = {}): Promise<IssuedCertificate[]> {
    if (filter.deviceIds?.length === 0) return [];
    let q = this.#certificatesWhere(this.db.selectFrom('certificates').selectAll(), filter);
    if (filter.after !== undefined) {
      // Keyset paging on the list order: stable under inserts, no OFFSET scan.
      const { issuedAt, serialNumber } = filter.after;
      const at = isoTimestamp(issuedAt, 'after.issuedAt');
      q = q.where((eb) => eb.or([eb('issued_at', '>', at), eb.and([eb('issued_at', '=', at), eb('serial_number', '>', serialNumber)])]));
    }
    q = q.orderBy('issued_at').orderBy('serial_number');
    if (filter.limit !== undefined) {
      if (!Number.isInteger(filter.limit) || filter.limit < 1 || filter.limit > 10_000) throw new RangeError(`limit must be 1..10000: ${filter.limit}`);
      q = q.limit(filter.limit);
    }
    return (await q.execute()).map(rowToCertificate);
  }

  async countCertificates(filter: CertificateFilter = {}): Promise<Record<CertificateStatus, number>> {
    const counts: Record<CertificateStatus, number> = { valid: 0, revoked: 0, expired: 0 };
    if (filter.deviceIds?.length === 0) return counts;
    const asOf = filter.asOf === undefined ? this.#stamp() : isoTimestamp(filter.asOf, 'asOf');
    const base = this.db
      .selectFrom('certificates')
      .select((eb) => [
        eb
          .case()
          .when('revoked_at', 'is not', null)
          .then('revoked')
          .when('not_after', '<', asOf)
          .then('expired')
          .else('valid')
          .end()
          .as('status'),
        eb.fn.countAll().as('n'),
      ]);
    // A long device list goes in chunks: SQLite and PostgreSQL both cap bound parameters per statement.
    const ids = filter.deviceIds;
    const chunks = ids === undefined ? [undefined] : Array.from({ length: Math.ceil(ids.length / 500) }, (_, i) => ids.slice(i * 500, i * 500 + 500));
    for (const deviceIds of chunks) {
      const rows = await this.#certificatesWhere(base, { ...filter, deviceIds }).groupBy('status').execute();
      for (const r of rows) counts[r.status as CertificateStatus] += toNumber(r.n as number | string | bigint);
    }
    return counts;
  }

  /** The filter's row conditions, shared by list and count (timestamps compare as ISO text). */
  #certificatesWhere<Q extends SelectQueryBuilder<Database, 'certificates', any>>(q: Q, filter: CertificateFilter): Q {
    let w = q as SelectQueryBuilder<Database, 'certificates', any>;
    if (filter.deviceId !== undefined) w = w.where('device_id', '=', filter.deviceId);
    if (filter.userId !== undefined) w = w.where('user_id', '=', filter.userId);
    if (filter.profileId !== undefined) w = w.where('profile_id', '=', filter.profileId);
    if (filter.transactionId !== undefined) w = w.where('transaction_id', '=', filter.transactionId);
    if (filter.kind !== undefined) w = w.where('kind', '=', filter.kind);
    if (filter.deviceIds !== undefined) w = w.where('device_id', 'in', [...filter.deviceIds]);
    if (filter.notAfterUntil !== undefined) w = w.where('not_after', '<=', isoTimestamp(filter.notAfterUntil, 'notAfterUntil'));
    if (filter.status !== undefined) {
      const asOf = filter.asOf === undefined ? this.#stamp() : isoTimestamp(filter.asOf, 'asOf');
      if (filter.status === 'revoked') w = w.where('revoked_at', 'is not', null);
      else w = w.where('revoked_at', 'is', null).where('not_after', filter.status === 'expired' ? '<' : '>=', asOf);
    }
    return w as Q;
  }

  async findCertificateByThumbprint(thumbprint: string): Promise<IssuedCertificate | null> {
    const row = await this.db.selectFrom('certificates').selectAll().where('thumbprint', '=', thumbprint.toUpperCase()).executeTakeFirst();
    return row ? rowToCertificate(row) : null;
  }

  async revokeCertificateChain(serialNumber: string, at: string, reason: RevocationReason): Promise<RevokeResult> {
    const revokedAt = isoTimestamp(at, 'revokedAt');
    return this.db.transaction().execute(async (trx): Promise<RevokeResult> => {
      const root = await trx
        .updateTable('certificates')
        .set({ revoked_at: revokedAt, revocation_reason: reason })
        .where('serial_number', '=', serialNumber)
        .where('revoked_at', 'is', null)
        .returning('serial_number')
        .executeTakeFirst();
      if (!root) {
        const exists = await trx.selectFrom('certificates').select('serial_number').where('serial_number', '=', serialNumber).executeTakeFirst();
        return { ok: false, reason: exists ? 'already-revoked' : 'not-found' };
      }
      return { ok: true, revoked: [serialNumber, ...(await this.#revokeSuccessors(trx, [serialNumber], revokedAt, reason))] };
    });
  }

  async assignLegacyIssuer(issuerId: string): Promise<number> {
    const result = await this.db.updateTable('certificates').set({ issuer_id: issuerId }).where('issuer_id', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  // ---- CRL publication (src/ca/crl-publisher.ts) ----

  async listRevoked(issuerId: string): Promise<RevokedEntry[]> {
    const rows = await this.db
      .selectFrom('certificates')
      .select(['serial_number', 'revoked_at', 'revocation_reason'])
      .where('issuer_id', '=', issuerId)
      .where('revoked_at', 'is not', null)
      .orderBy('revoked_at')
      .orderBy('serial_number')
      .execute();
    return rows.map((r) => ({
      serialNumber: r.serial_number,
      revokedAt: r.revoked_at!,
      reason: (r.revocation_reason ?? 'unspecified') as RevocationReason,
    }));
  }

  async revokedSetState(issuerId: string): Promise<RevokedSetState> {
    // Served by certificates_issuer_revoked_idx (0005).
    const row = await this.db
      .selectFrom('certificates')
      .select((eb) => [eb.fn.countAll().as('count'), eb.fn.max('revoked_at').as('latest')])
      .where('issuer_id', '=', issuerId)
      .where('revoked_at', 'is not', null)
      .executeTakeFirstOrThrow();
    return { count: toNumber(row.count as number | string | bigint), latest: (row.latest as string | null) ?? null };
  }

  async nextCrlNumber(issuerId: string): Promise<number> {
    // One statement: the upsert's row lock (PostgreSQL) or the write lock
    // (SQLite) serialises concurrent callers, so no two get the same number.
    const row = await this.db
      .insertInto('crl_state')
      .values({ issuer_id: issuerId, crl_number: 1, updated_at: this.#stamp() })
      .onConflict((oc) =>
        oc.column('issuer_id').doUpdateSet((eb) => ({
          crl_number: eb(eb.ref('crl_state.crl_number'), '+', 1),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .returning('crl_number')
      .executeTakeFirstOrThrow();
    return toNumber(row.crl_number);
  }

  async revokeCertificate(serialNumber: string, at: string, reason: RevocationReason): Promise<RevokeResult> {
    const revokedAt = isoTimestamp(at, 'revokedAt');
    const row = await this.db
      .updateTable('certificates')
      .set({ revoked_at: revokedAt, revocation_reason: reason })
      .where('serial_number', '=', serialNumber)
      .where('revoked_at', 'is', null)
      .returning('serial_number')
      .executeTakeFirst();
    if (row) return { ok: true, revoked: [serialNumber] };
    const exists = await this.db.selectFrom('certificates').select('serial_number').where('serial_number', '=', serialNumber).executeTakeFirst();
    return { ok: false, reason: exists ? 'already-revoked' : 'not-found' };
  }

  async noteIdentityRenewalChallenge(challengeId: string, renewalOf: string, expiresAt: string): Promise<void> {
    await this.db
      .insertInto('identity_renewal_challenges')
      .values({ challenge_id: challengeId, renewal_of: renewalOf, expires_at: isoTimestamp(expiresAt, 'expiresAt') })
      .execute();
  }

  async lastExpiryByIssuer(issuerId: string): Promise<string | null> {
    // ISO timestamps in one format (isoTimestamp) compare as strings.
    const row = await this.db.selectFrom('certificates').select((eb) => eb.fn.max('not_after').as('last')).where('issuer_id', '=', issuerId).executeTakeFirst();
    return (row?.last as string | null | undefined) ?? null;
  }

  // ---- challenges (spent by recordEnrollment; the used-record is kept until the challenge expires) ----

  async isChallengeUsed(id: string): Promise<boolean> {
    const row = await this.db.selectFrom('used_challenges').select('id').where('id', '=', id).executeTakeFirst();
    return row !== undefined;
  }

  async purgeExpiredChallenges(now: string): Promise<number> {
    const result = await this.db
      .deleteFrom('used_challenges')
      .where('expires_at', '<', isoTimestamp(now, 'now'))
      .executeTakeFirst();
    // Renewal links of expired identity challenges go with them (not counted: they are not used-challenge records).
    await this.db.deleteFrom('identity_renewal_challenges').where('expires_at', '<', isoTimestamp(now, 'now')).execute();
    return Number(result.numDeletedRows);
  }

  // ---- delivery status (what adapters report per device and profile) -------------

  async putDeliveryStatus(st: Omit<DeliveryStatus, 'updatedAt'>): Promise<DeliveryStatus> {
    const row = {
      device_id: st.deviceId,
      profile_id: st.profileId,
      profile_version: st.profileVersion,
      state: st.state,
      thumbprint: st.thumbprint,
      certificate_serial: st.certificateSerial,
      error_code: st.errorCode,
      detail: st.detail,
      updated_at: this.#stamp(),
    };
    try {
      await this.db
        .insertInto('delivery_status')
        .values(row)
        .onConflict((oc) => oc.columns(['device_id', 'profile_id']).doUpdateSet({ ...row, device_id: undefined, profile_id: undefined }))
        .execute();
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new StorageConflictError(`device ${st.deviceId} not found`, 'not-found');
      throw e;
    }
    return { ...st, updatedAt: row.updated_at };
  }

  async countDeliveryStates(): Promise<Record<DeliveryState, number>> {
    const rows = await this.db
      .selectFrom('delivery_status')
      .select((eb) => ['state', eb.fn.countAll<number | string | bigint>().as('n')])
      .groupBy('state')
      .execute();
    const counts = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
    for (const r of rows) if ((DELIVERY_STATES as readonly string[]).includes(r.state)) counts[r.state as DeliveryState] = toNumber(r.n);
    return counts;
  }

  async listDeliveryStatus(filter: { deviceId?: string; profileId?: string }): Promise<DeliveryStatus[]> {
    let q = this.db.selectFrom('delivery_status').selectAll();
    if (filter.deviceId !== undefined) q = q.where('device_id', '=', filter.deviceId);
    if (filter.profileId !== undefined) q = q.where('profile_id', '=', filter.profileId);
    const rows = await q.orderBy('updated_at', 'asc').orderBy('profile_id', 'asc').execute();
    return rows.map((r) => ({
      deviceId: r.device_id,
      profileId: r.profile_id,
      profileVersion: toNumber(r.profile_version),
      state: r.state as DeliveryState,
      thumbprint: r.thumbprint,
      certificateSerial: r.certificate_serial,
      errorCode: r.error_code,
      detail: r.detail,
      updatedAt: r.updated_at,
    }));
  }

  // ---- audit ------------------------------------------------------------------------

  async appendAudit(e: Omit<AuditEvent, 'id' | 'at'> & { at?: string }): Promise<void> {
    await this.db
      .insertInto('audit_events')
      .values({
        at: e.at === undefined ? this.#stamp() : isoTimestamp(e.at, 'audit at'),
        // The one place every audit record passes: client-supplied values are cut here (core/bounded.ts).
        transaction_id: cut(e.transactionId),
        type: cut(e.type) ?? '',
        reason_code: cut(e.reasonCode),
        actor: cut(e.actor),
        details: JSON.stringify(boundedRecord(e.details ?? {})),
      })
      .execute();
  }

  async purgeAudit(before: string): Promise<number> {
    const result = await this.db.deleteFrom('audit_events').where('at', '<', isoTimestamp(before, 'before')).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async listAudit(filter?: AuditFilter): Promise<AuditEvent[]> {
    const limit = filter?.limit;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
      throw new RangeError(`audit limit must be a non-negative integer, got ${limit}`);
    }
    if (limit === 0) return [];
    let q = this.db.selectFrom('audit_events').selectAll();
    if (filter?.transactionId !== undefined) q = q.where('transaction_id', '=', filter.transactionId);
    if (filter?.type !== undefined) q = q.where('type', '=', filter.type);
    if (limit === undefined) {
      const rows = await q.orderBy('id', 'asc').execute();
      return rows.map(rowToAudit);
    }
    // The newest `limit` events, returned oldest first like the unlimited list.
    const rows = await q.orderBy('id', 'desc').limit(limit).execute();
    return rows.reverse().map(rowToAudit);
  }

  // ---- enrollments an upstream CA answered PENDING (upstream-requests.ts)
  #upstream?: UpstreamRequestStore;
  get #upstreamRequests(): UpstreamRequestStore {
    return (this.#upstream ??= new UpstreamRequestStore(this.db));
  }
  addUpstreamRequest: Storage['addUpstreamRequest'] = (r) => this.#upstreamRequests.addUpstreamRequest({ ...r, createdAt: isoTimestamp(r.createdAt, 'createdAt'), nextPollAt: isoTimestamp(r.nextPollAt, 'nextPollAt') });
  listDueUpstreamRequests: Storage['listDueUpstreamRequests'] = (now, limit) => this.#upstreamRequests.listDueUpstreamRequests(isoTimestamp(now, 'now'), limit);
  rescheduleUpstreamRequest: Storage['rescheduleUpstreamRequest'] = (t, next, err) => this.#upstreamRequests.rescheduleUpstreamRequest(t, isoTimestamp(next, 'nextPollAt'), err);
  removeUpstreamRequest: Storage['removeUpstreamRequest'] = (t) => this.#upstreamRequests.removeUpstreamRequest(t);
}
