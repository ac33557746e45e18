import type { UpstreamRequestStorage } from './upstream-requests.js';
import type {
  CertificateKind,
  Assignment,
  AssignmentTarget,
  AuditEvent,
  Device,
  Enrollment,
  Group,
  IssuedCertificate,
  MemberRef,
  Platform,
  Profile,
  ProfileSpec,
  User,
  Attributes,
  DeviceReported,
  ReportedField,
  DeliveryStatus,
  DeliveryState,
  DeviceCommand,
  CommandStatus,
  EnrollmentToken,
  RevocationReason,
  PendingRemoval,
} from '../model.js';

// The one storage interface. Every backend (SQLite now, PostgreSQL next) must
// pass test/storage/contract.ts. Methods are coarse on purpose: each is one
// transaction, so "consume the challenge and record the certificate" cannot be
// half done by a caller that forgets a step.
//
// Conventions every backend keeps (test/storage/contract.ts checks them):
// - list* methods return rows ordered by createdAt, then id (certificates by
//   issuedAt, then serialNumber; audit events in append order);
// - timestamps passed in (expiresAt, notBefore/notAfter, revoke `at`, audit `at`,
//   purge `now`) are stored normalised to Date#toISOString() form, so text order is
//   time order; an unparsable timestamp throws RangeError;
// - byte fields come back as plain Uint8Array copies, JSON fields as fresh objects.

export interface NewUser {
  userPrincipalName: string;
  email: string;
  displayName: string;
  attributes?: Attributes;
}

export interface NewDevice {
  /** null: the admin set none (a device an enrollment creates); '' is stored as null too. */
  name: string | null;
  platform: Platform;
  serialNumber?: string | null;
  userId?: string | null;
  attributes?: Attributes;
}

/** The admin's fields. What the device reports goes through setDeviceReported, never through here. */
export type DevicePatch = Partial<Pick<Device, 'name' | 'serialNumber' | 'userId' | 'attributes'>>;

/** The challenge being spent: its id and expiry (so the used-record can be purged later). */
export interface ChallengeUse {
  id: string;
  expiresAt: string;
}

export interface NewEnrollment extends Omit<Enrollment, 'createdAt' | 'updatedAt' | 'certificateSerial' | 'renewalOf'> {
  /** A renewal: the serial of the certificate authenticating it. Defaults to null. */
  renewalOf?: string | null;
}

export type NewCertificate = Omit<IssuedCertificate, 'issuedAt' | 'revokedAt' | 'revocationReason' | 'renewalOf' | 'issuerId'> & {
  /** The certificate this one renews. Defaults to null. */
  renewalOf?: string | null;
  /** The signing CA's id. Defaults to null (left for assignLegacyIssuer). */
  issuerId?: string | null;
};

/**
 * Why an issuance was not recorded. Besides the single-use rules, the
 * transaction re-checks what may have changed since the policy said yes:
 * `device-blocked` (the certificate's device was blocked) and
 * `predecessor-revoked` (the certificate being renewed was revoked).
 */
export type ConsumeResult =
  | { ok: true }
  | { ok: false; reason: 'challenge-used' | 'transaction-exists' | 'device-blocked' | 'predecessor-revoked' };

export type RevokeResult = { ok: true; revoked: string[] } | { ok: false; reason: 'not-found' | 'already-revoked' };

export type BlockResult = { ok: true; device: Device; revoked: string[] } | { ok: false; reason: 'not-found' | 'already-blocked' };

/** One entry of a CRL (RFC 5280 5.1.2.6): a revoked certificate of one CA. */
export interface RevokedEntry {
  serialNumber: string;
  revokedAt: string;
  reason: RevocationReason;
}

/**
 * A cheap summary of a CA's revoked set: revocations are never undone, so
 * any revocation (from whichever code path or gateway instance) changes the
 * count; `latest` also catches a revocation that a concurrent change offset.
 */
export interface RevokedSetState {
  count: number;
  /** The newest revokedAt, or null when nothing is revoked. */
  latest: string | null;
}

export type UnblockResult = { ok: true; device: Device } | { ok: false; reason: 'not-found' | 'not-blocked' };

/**
 * A certificate's status at a given time: `revoked` when revokedAt is set
 * (whatever its expiry), else `expired` once notAfter is before that time,
 * else `valid`.
 */
export const CERTIFICATE_STATUSES = ['valid', 'revoked', 'expired'] as const;
export type CertificateStatus = (typeof CERTIFICATE_STATUSES)[number];

/** Where a page of listCertificates ended: the last row's sort key (issuedAt, serialNumber). */
export interface CertificatePosition {
  issuedAt: string;
  serialNumber: string;
}
/** The admin's user fields (PATCH /users/:id). `enabled: false` disables the user and revokes their certificates. */
export type UserPatch = Partial<Pick<User, 'email' | 'displayName' | 'attributes' | 'enabled'>>;

export type UpdateUserResult = { ok: true; user: User; revoked: string[] } | { ok: false; reason: 'not-found' | 'already-disabled' };

export type DeleteUserResult = { ok: true; user: User; revoked: string[]; devices: string[] } | { ok: false; reason: 'not-found' };

export type RetireResult = { ok: true; device: Device; revoked: string[] } | { ok: false; reason: 'not-found' | 'already-retired' };

export type BeginRetireResult = { ok: true; device: Device; revoked: string[] } | { ok: false; reason: 'not-found' | 'already-retiring' | 'already-retired' };

export type DeleteDeviceResult = { ok: true; device: Device; revoked: string[] } | { ok: false; reason: 'not-found' };

export interface CertificateFilter {
  deviceId?: string;
  userId?: string;
  profileId?: string;
  transactionId?: string;
  kind?: CertificateKind;
  /** Only these devices (an empty list matches nothing). */
  deviceIds?: readonly string[];
  /** Status at `asOf` (see CertificateStatus). */
  status?: CertificateStatus;
  /** Only certificates whose notAfter is at or before this time (expiry reports). */
  notAfterUntil?: string;
  /** The time `status` is judged at; default the storage's clock. */
  asOf?: string;
  /** Keyset paging: only rows after this position in list order, so inserts never shift a page. */
  after?: CertificatePosition;
  /** At most this many rows (1..10000). */
  limit?: number;
}

export interface AuditFilter {
  transactionId?: string;
  type?: string;
  limit?: number;
}

/** Thrown for a foreign key or uniqueness conflict the caller can explain (409/404). */
export class StorageConflictError extends Error {
  constructor(
    message: string,
    readonly kind: 'not-found' | 'conflict',
  ) {
    super(message);
    this.name = 'StorageConflictError';
  }
}

export interface Storage {
  /** Runs pending migrations; idempotent; safe to call from several instances. */
  migrate(): Promise<void>;
  /** Names of known migrations not yet applied (readiness: empty when the schema is current); rejects when the database does not answer. */
  pendingMigrations(): Promise<string[]>;
  close(): Promise<void>;

  // ---- directory
  createUser(u: NewUser): Promise<User>; // conflict on a duplicate userPrincipalName
  getUser(id: string): Promise<User | null>;
  listUsers(): Promise<User[]>;
  createDevice(d: NewDevice): Promise<Device>; // throws StorageConflictError(not-found) for an unknown userId
  getDevice(id: string): Promise<Device | null>;
  listDevices(): Promise<Device[]>;
  /**
   * Fields left undefined are untouched; `attributes` replaces the whole map.
   * null when the device does not exist; not-found for an unknown userId.
   */
  updateDevice(id: string, patch: DevicePatch): Promise<Device | null>;
  /**
   * One transaction: marks the device blocked and revokes every unrevoked
   * certificate issued for it (and their renewals) with `reason`. Refused,
   * writing nothing, when the device is unknown or already blocked.
   */
  blockDevice(id: string, at: string, reason: RevocationReason): Promise<BlockResult>;
  /** Clears the block; revoked certificates stay revoked. */
  unblockDevice(id: string): Promise<UnblockResult>;
  /** Replaces the device's reported values and their conflicts. null when the device does not exist. */
  setDeviceReported(id: string, reported: DeviceReported): Promise<Device | null>;
  /**
   * Devices whose admin value or reported value of `field` equals `value`,
   * ignoring case and surrounding blanks (to find who else claims a name or serial).
   */
  findDevicesByIdentifier(field: ReportedField, value: string): Promise<Device[]>;
  createGroup(name: string): Promise<Group>; // conflict on a duplicate name
  getGroup(id: string): Promise<Group | null>;
  listGroups(): Promise<Group[]>;
  /** Idempotent; not-found when the group or member does not exist. */
  addGroupMember(groupId: string, member: MemberRef): Promise<void>;
  removeGroupMember(groupId: string, member: MemberRef): Promise<boolean>;
  /** Ids of the groups the user or device is a direct member of (sorted by id). */
  groupsOf(member: MemberRef): Promise<string[]>;
  /** The direct members of a group (empty for an unknown group). */
  listGroupMembers(groupId: string): Promise<MemberRef[]>;
  /** Devices whose primary user this is. */
  listDevicesOfUser(userId: string): Promise<Device[]>;

  // ---- lifecycle (revocation triggers, docs/lifecycle.md). Each is one
  // transaction with its revocations: nothing is half retired or half deleted.
  /**
   * Updates the user's fields; `enabled: false` on an enabled user also
   * revokes every unrevoked profile certificate issued for the user (and their
   * renewals) with `reason`; `enabled: true` only re-enables (nothing is
   * un-revoked). Refused, writing nothing: not-found, or already-disabled for
   * `enabled: false` on a disabled user.
   */
  updateUser(id: string, patch: UserPatch, at: string, reason: RevocationReason): Promise<UpdateUserResult>;
  /**
   * Deletes the user: the row is kept (certificates and audit name it) but no
   * read returns it; its profile certificates are revoked with `reason`, it is
   * cleared as primary user of its devices (`devices` lists them), and its
   * group memberships and user assignments are removed. Its userPrincipalName
   * stays taken.
   */
  deleteUser(id: string, at: string, reason: RevocationReason): Promise<DeleteUserResult>;
  /**
   * Marks the device retired and revokes every unrevoked certificate issued
   * for it (identity and profile, and their renewals) with `reason`. Refused,
   * writing nothing, when unknown or already retired.
   */
  retireDevice(id: string, at: string, reason: RevocationReason): Promise<RetireResult>;
  /**
   * Starts retiring the device (POST /devices/:id/retire): sets retiringSince
   * and revokes every unrevoked profile certificate issued for it (and their
   * renewals) with `reason`; its identity stays valid until retireDevice.
   * Refused, writing nothing, when unknown, already retiring or retired.
   */
  beginRetireDevice(id: string, at: string, reason: RevocationReason): Promise<BeginRetireResult>;
  /** Devices retiring (not yet retired, not deleted) since before `before` (exclusive), oldest first. */
  listRetiringDevices(before: string): Promise<Device[]>;
  /**
   * Deletes the device: revoked like retireDevice (a retired device may be
   * deleted), the row is kept for its certificates and audit but no read
   * returns it; its group memberships, device assignments and pending
   * removals are removed. not-found when unknown or already deleted.
   */
  deleteDevice(id: string, at: string, reason: RevocationReason): Promise<DeleteDeviceResult>;
  /**
   * Revokes every unrevoked certificate issued for the device (and their
   * renewals) without changing the device (it unenrolled and may enroll
   * again). null for an unknown device; [] when nothing was left to revoke.
   */
  revokeDeviceCertificates(id: string, at: string, reason: RevocationReason): Promise<string[] | null>;
  /**
   * Records removals as pending since `since`; a certificate already pending
   * keeps its earlier `since`. Returns the ones newly recorded.
   */
  addPendingRemovals(entries: Omit<PendingRemoval, 'since'>[], since: string): Promise<PendingRemoval[]>;
  /** Ordered by since, then serial. `since` given: only those pending since before it. */
  listPendingRemovals(filter?: { deviceId?: string; before?: string }): Promise<PendingRemoval[]>;
  /** Drops pending removals (the profile reaches the device again); returns how many. */
  cancelPendingRemovals(serialNumbers: string[]): Promise<number>;
  /**
   * One transaction: drops the pending removal and revokes its certificate
   * (and renewals) with `reason` unless already revoked. null when no such
   * removal is pending (nothing written); else the serials newly revoked.
   */
  revokePendingRemoval(serialNumber: string, at: string, reason: RevocationReason): Promise<string[] | null>;

  // ---- profiles (versioned: every update is a new immutable version)
  createProfile(spec: ProfileSpec): Promise<Profile>; // version 1
  updateProfile(id: string, spec: ProfileSpec): Promise<Profile | null>; // version + 1; null when missing or deleted
  /**
   * Without `version`: the current version; null when missing or deleted.
   * With `version`: that version, also after the profile was deleted (audit and
   * pending enrollments refer to it); null when no such version exists.
   * `updatedAt` is when the returned version was written.
   */
  getProfile(id: string, version?: number): Promise<Profile | null>;
  listProfiles(): Promise<Profile[]>; // current versions, not deleted
  /** Soft delete: old versions stay readable for audit; assignments are removed. False when missing or already deleted. */
  deleteProfile(id: string): Promise<boolean>;

  // ---- assignments
  createAssignment(profileId: string, target: AssignmentTarget): Promise<Assignment>; // not-found (also a deleted profile) / conflict (duplicate)
  listAssignments(filter?: { profileId?: string }): Promise<Assignment[]>;
  deleteAssignment(id: string): Promise<boolean>;
  /** Assignments whose target is any of the given refs (the caller expands groups). */
  assignmentsFor(targets: AssignmentTarget[]): Promise<Assignment[]>;

  // ---- enrollments and certificates
  getEnrollment(transactionId: string): Promise<Enrollment | null>;
  /**
   * One transaction: mark the challenge used (fails if it already is), insert
   * the enrollment, and when a certificate is given, insert it and link it.
   * Nothing is written when the result is not ok.
   *
   * The certificate is given exactly when `enrollment.status` is 'issued' (else
   * TypeError); its serial becomes the enrollment's certificateSerial. When both
   * the transactionId exists and the challenge is used, the answer is
   * 'transaction-exists' (a retry: answer from the stored enrollment). A duplicate
   * certificate serial throws StorageConflictError(conflict), also writing nothing.
   */
  recordEnrollment(
    challenge: ChallengeUse | null,
    enrollment: NewEnrollment,
    certificate: NewCertificate | null,
  ): Promise<ConsumeResult>;
  /**
   * Pending -> issued, one transaction; false if the enrollment is not pending
   * (nothing written). The certificate's renewalOf is the enrollment's. Throws
   * StorageConflictError(conflict), writing nothing, when the enrollment's
   * device is blocked or the certificate it renews has been revoked.
   */
  completeEnrollment(transactionId: string, certificate: NewCertificate): Promise<boolean>;
  /** Pending -> rejected; false if not pending. */
  rejectEnrollment(transactionId: string): Promise<boolean>;
  /**
   * The newest `limit` enrollments, newest first (createdAt, then transactionId,
   * both descending; unlike the list* methods, which are oldest first). A limit
   * that is not a positive integer throws RangeError.
   */
  listRecentEnrollments(limit: number): Promise<Enrollment[]>;
  getCertificate(serialNumber: string): Promise<IssuedCertificate | null>;
  listCertificates(filter?: CertificateFilter): Promise<IssuedCertificate[]>;
  /** How many certificates match the filter, per status at `asOf` (`after` and `limit` are ignored). */
  countCertificates(filter?: CertificateFilter): Promise<Record<CertificateStatus, number>>;
  findCertificateByThumbprint(thumbprint: string): Promise<IssuedCertificate | null>;
  /**
   * One transaction: revokes the certificate and every certificate renewed
   * from it, transitively (renewalOf), with the same time and reason;
   * `revoked` lists the serials newly revoked, the given one first (successors
   * already revoked keep their own time and reason). Refused, writing nothing,
   * when the serial is unknown or already revoked.
   */
  revokeCertificateChain(serialNumber: string, at: string, reason: RevocationReason): Promise<RevokeResult>;
  /**
   * Gives every certificate recorded without an issuer (rows from before
   * migration 0005, when the gateway had exactly one CA) that CA's id; returns
   * how many. The gateway calls it at start with its original CA.
   */
  assignLegacyIssuer(issuerId: string): Promise<number>;
  /** Every revoked certificate signed by the CA `issuerId` (CRL entries), oldest revocation first. */
  listRevoked(issuerId: string): Promise<RevokedEntry[]>;
  /** Count and newest revocation time of the CA's revoked set: one indexed query, asked on every CRL request. */
  revokedSetState(issuerId: string): Promise<RevokedSetState>;
  /**
   * The next CRL Number for the CA `issuerId` (1 for the first), atomically:
   * every caller, in any gateway instance sharing the database, gets a
   * different, larger number, also across restarts (migration 0009).
   */
  nextCrlNumber(issuerId: string): Promise<number>;
  /**
   * Revokes this one certificate only, not its renewals (a predecessor
   * superseded by its renewal: the renewal must live on). `revoked` is
   * `[serialNumber]`. Refused, writing nothing, when unknown or already revoked.
   */
  revokeCertificate(serialNumber: string, at: string, reason: RevocationReason): Promise<RevokeResult>;
  /**
   * Remembers that the identity challenge `challengeId` was minted to renew the
   * certificate `renewalOf`: recordEnrollment spending that challenge records
   * the enrollment and its certificate with that renewalOf (and refuses with
   * predecessor-revoked when it has been revoked). Kept until `expiresAt`
   * (purgeExpiredChallenges removes it after).
   */
  noteIdentityRenewalChallenge(challengeId: string, renewalOf: string, expiresAt: string): Promise<void>;
  /**
   * The latest notAfter among the certificates a CA signed (revoked ones too:
   * their revocation is published until they expire); null when it signed none.
   * A retired CA stays published until then (CA rollover).
   */
  lastExpiryByIssuer(issuerId: string): Promise<string | null>;

  // ---- challenges (spent by recordEnrollment; the used-record is kept until the challenge expires)
  isChallengeUsed(id: string): Promise<boolean>;
  /** Deletes used-challenge records whose expiry is before `now` (they can no longer be replayed); returns how many. */
  purgeExpiredChallenges(now: string): Promise<number>;

  // ---- delivery status (what adapters report per device and profile)
  /** Insert or replace the status for (deviceId, profileId); not-found for an unknown device. */
  putDeliveryStatus(s: Omit<DeliveryStatus, 'updatedAt'>): Promise<DeliveryStatus>;
  listDeliveryStatus(filter: { deviceId?: string; profileId?: string }): Promise<DeliveryStatus[]>;
  /** How many (device, profile) pairs are in each state; every state is present (0 when none). */
  countDeliveryStates(): Promise<Record<DeliveryState, number>>;

  // ---- enrollment tokens (one-time, per platform; only the SHA-256 is stored)
  createEnrollmentToken(t: Omit<EnrollmentToken, 'id' | 'createdAt' | 'usedAt'> & { tokenSha256: string }): Promise<EnrollmentToken>;
  /**
   * Spends a token atomically: succeeds once, for its platform, before it expires.
   * Nothing changes when it fails; the reason says why.
   */
  consumeEnrollmentToken(
    tokenSha256: string,
    platform: EnrollmentToken['platform'],
    now: string,
  ): Promise<{ ok: true; token: EnrollmentToken } | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'wrong-platform' }>;

  /** The same verdict as consumeEnrollmentToken, without spending the token. */
  peekEnrollmentToken(
    tokenSha256: string,
    platform: EnrollmentToken['platform'],
    now: string,
  ): Promise<{ ok: true; token: EnrollmentToken } | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'wrong-platform' }>;

  // ---- device command queue (adapters)
  enqueueCommand(c: Pick<DeviceCommand, 'deviceId' | 'channel' | 'kind' | 'payload' | 'profileId' | 'profileVersion'>): Promise<DeviceCommand>;
  /**
   * The next command to send on a channel, oldest first, and marks it sent:
   * one already sent but unanswered comes first (one in flight), then queued and
   * NotNow ones. `skip` lists ids not to offer again in this session.
   */
  nextCommand(deviceId: string, channel: string, skip?: string[]): Promise<DeviceCommand | null>;
  /** Records the device's answer; null if no such command for that device. */
  updateCommand(id: string, deviceId: string, status: CommandStatus, result: Record<string, unknown> | null): Promise<DeviceCommand | null>;
  listCommands(filter: { deviceId: string; status?: CommandStatus }): Promise<DeviceCommand[]>;
  /**
   * Deletes answered commands (acknowledged, error, formaterror, cancelled) last
   * updated before `before`, and beyond the newest `keepPerDevice` answered ones
   * of each device (newest by id, i.e. creation order). Queued, sent and NotNow
   * commands are never touched. Returns how many were deleted.
   */
  purgeAnsweredCommands(before: string, keepPerDevice: number): Promise<number>;

  // ---- per-device protocol state and gateway settings (adapters)
  getPlatformState(deviceId: string, adapter: string): Promise<Record<string, unknown> | null>;
  putPlatformState(deviceId: string, adapter: string, state: Record<string, unknown>): Promise<void>;
  getSetting(key: string): Promise<string | null>;
  putSetting(key: string, value: string): Promise<void>;

  // ---- audit
  /**
   * Client-supplied values are bounded here, whoever appends (core/bounded.ts):
   * type, actor, reasonCode and transactionId at 256 characters, details at
   * AUDIT_BOUNDS; each cut is marked.
   */
  appendAudit(e: Omit<AuditEvent, 'id' | 'at'> & { at?: string }): Promise<void>;
  /** Append order (oldest first); with `limit`, the newest `limit` matching events, still oldest first. */
  listAudit(filter?: AuditFilter): Promise<AuditEvent[]>;
  /** Deletes audit events whose `at` is before `before` (retention); returns how many. */
  purgeAudit(before: string): Promise<number>;

  // ---- enrollments an upstream CA answered PENDING (upstream-requests.ts)
  addUpstreamRequest: UpstreamRequestStorage['addUpstreamRequest'];
  listDueUpstreamRequests: UpstreamRequestStorage['listDueUpstreamRequests'];
  rescheduleUpstreamRequest: UpstreamRequestStorage['rescheduleUpstreamRequest'];
  removeUpstreamRequest: UpstreamRequestStorage['removeUpstreamRequest'];
}
