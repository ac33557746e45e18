import type { PlanGenerations } from './plan-generation-store.js';
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
  DirectorySource,
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
/** IssuanceStore.getCertificateWithDevice: a device authentication's one read. */
export interface CertificateWithDevice {
  certificate: IssuedCertificate;
  /** null when the certificate names no device or the device was deleted. */
  device: Device | null;
  /** Whether the device holds an unrevoked identity certificate other than this one. */
  otherUnrevokedIdentities: boolean;
  /**
   * The plan generations (plan-generation-store.ts) read in the same statement:
   * the global one, and the device's (null without a device). A kept check-in
   * keys its answer by them instead of reading them again (issue 13).
   */
  planGenerations: PlanGenerations;
}

/** The admin's user fields (PATCH /users/:id). `enabled: false` disables the user and revokes their certificates. */
export type UserPatch = Partial<Pick<User, 'email' | 'displayName' | 'attributes' | 'enabled'>>;

export type UpdateUserResult = { ok: true; user: User; revoked: string[] } | { ok: false; reason: 'not-found' | 'already-disabled' };

export type DeleteUserResult = { ok: true; user: User; revoked: string[]; devices: string[] } | { ok: false; reason: 'not-found' };

export type RetireResult = { ok: true; device: Device; revoked: string[] } | { ok: false; reason: 'not-found' | 'already-retired' };

export type BeginRetireResult = { ok: true; device: Device; revoked: string[] } | { ok: false; reason: 'not-found' | 'already-retiring' | 'already-retired' };

export type DeleteDeviceResult = { ok: true; device: Device; revoked: string[] } | { ok: false; reason: 'not-found' };

/** A group is deleted with its memberships; refused while assignments target it (their ids, sorted). */
export type DeleteGroupResult =
  | { ok: true; group: Group; members: MemberRef[] }
  | { ok: false; reason: 'not-found' }
  | { ok: false; reason: 'has-assignments'; assignments: string[] };

/** Directory search: case-insensitive substring (`q`), as GET /users?q= and /groups?q= give it. */
export interface DirectorySearch {
  q?: string;
}

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
  /** List order: `issued` (default: issuedAt, serialNumber) or `expiry` (notAfter, serialNumber: the expiry report, indexed by 0020). */
  order?: CertificateOrder;
  /** Keyset paging in `expiry` order (with `order: 'expiry'` only). */
  afterExpiry?: CertificateExpiryPosition;
}

export type CertificateOrder = 'issued' | 'expiry';

/** Where a page in expiry order ended: the last row's notAfter and serial. */
export interface CertificateExpiryPosition {
  notAfter: string;
  serialNumber: string;
}

export interface AuditFilter {
  transactionId?: string;
  type?: string;
  limit?: number;
  /** Only events older than this id (the admin API's audit paging walks back from the newest). */
  beforeId?: number;
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

import type { MigratingStore } from './migrating-store.js';
import type { DirectoryStore } from './directory-store.js';
import type { ProfileStore } from './profile-store.js';
import type { AssignmentStore } from './assignment-store.js';
import type { IssuanceStore } from './issuance-store.js';
import type { DeliveryStore } from './delivery-store.js';
import type { EnrollmentTokenStore } from './enrollment-token-store.js';
import type { CommandStore } from './command-store.js';
import type { PlatformStateStore } from './platform-state-store.js';
import type { AuditStore } from './audit-store.js';
import type { CoordinationStore, KeyMaterial } from './coordination-store.js';
import type { UpstreamRequestStore } from './upstream-request-store.js';
import type { PlanGenerationStore } from './plan-generation-store.js';

export type {
  MigratingStore,
  DirectoryStore,
  ProfileStore,
  AssignmentStore,
  IssuanceStore,
  DeliveryStore,
  EnrollmentTokenStore,
  CommandStore,
  PlatformStateStore,
  AuditStore,
  CoordinationStore,
  KeyMaterial,
  UpstreamRequestStore,
  PlanGenerationStore,
};

/**
 * The whole storage: one interface per concern (modelled on nanomdm's
 * storage/), so a consumer can ask for only the stores it uses
 * (e.g. `DirectoryStore & AuditStore`). Every backend implements all of them.
 */
export type Storage = MigratingStore &
  DirectoryStore &
  ProfileStore &
  AssignmentStore &
  IssuanceStore &
  DeliveryStore &
  EnrollmentTokenStore &
  CommandStore &
  PlatformStateStore &
  AuditStore &
  CoordinationStore &
  UpstreamRequestStore &
  PlanGenerationStore;

// ---- directory sync (docs/directory.md)

/** A source other than the API itself. */
export type ExternalSource = Exclude<DirectorySource, 'local'>;

/** Where a page of listUsersPage ended: the last row's sort key. */
export interface UserPosition {
  createdAt: string;
  id: string;
}

export interface UserPageQuery {
  source?: DirectorySource;
  /** Case-insensitive substring of userPrincipalName, email or displayName (walks the list: no index serves a substring). */
  search?: string;
  /** Case-insensitive prefix of userPrincipalName, email or displayName (index ranges, migration 0020). */
  prefix?: string;
  after?: UserPosition;
  limit: number;
}

export interface NewExternalUser extends NewUser {
  source: ExternalSource;
  externalId: string;
  /** false: created disabled (the directory has the account disabled) at `at`. Default true. */
  enabled?: boolean;
  at?: string;
}

// ---- admin list paging (GET /devices)

/** Where a page of listDevicesPage ended: the last row's sort key. */
export interface DevicePosition {
  createdAt: string;
  id: string;
}

export interface DevicePageQuery {
  after?: DevicePosition;
  limit: number;
}

/** Where a page of a list in creation order ended (groups, assignments, profiles): the last row's (createdAt, id). */
export interface CreatedPosition {
  createdAt: string;
  id: string;
}

/** One page of a list in creation order: at most `limit` (1..10000) rows after `after`. */
export interface CreatedPageQuery {
  after?: CreatedPosition;
  limit: number;
}
