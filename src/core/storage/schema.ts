import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

// Kysely table types for the storage schema (see migrations.ts for the DDL).
//
// Conventions, identical on SQLite and PostgreSQL:
// - ids are UUID strings made in TypeScript (crypto.randomUUID), never by the database;
//   the one exception is audit_events.id, a database sequence that gives the append order;
// - timestamps are ISO-8601 UTC text as produced by Date#toISOString(), so that text
//   comparison and ORDER BY are chronological on both databases;
// - JSON (attributes, profile specs, resolved requests, audit details) is stored as text;
// - binary columns (DER) are `blob` on SQLite and `bytea` on PostgreSQL. Both drivers
//   return a Node Buffer; the storage layer hands callers plain Uint8Array copies and
//   accepts any Uint8Array on write;
// - there are no boolean columns (better-sqlite3 cannot bind booleans); booleans only
//   occur inside JSON and round-trip as JSON booleans.

/** Binary column: Buffer on read (both drivers), Buffer/Uint8Array on write. */
export type Bytes = ColumnType<Buffer, Buffer | Uint8Array, Buffer | Uint8Array>;

/** Database-generated sequence. `pg` returns int8 as a string, better-sqlite3 a number. */
export type SequenceId = ColumnType<number | string | bigint, never, never>;

export interface UsersTable {
  id: string;
  user_principal_name: string; // unique
  email: string;
  display_name: string;
  attributes: string; // JSON object of strings
  created_at: string;
  // 0006_lifecycle_triggers
  disabled_at: ColumnType<string | null, string | null | undefined, string | null>;
  deleted_at: ColumnType<string | null, string | null | undefined, string | null>; // hidden from every read
  // 0013_directory_source: 'local' | 'ldap'; external_id unique per source (the directory's entry id).
  source: ColumnType<string, string | undefined, string>;
  external_id: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface DevicesTable {
  id: string;
  /** The admin's name; '' when the admin set none (model: null). The 0001 column is NOT NULL. */
  name: string;
  platform: string; // Platform
  serial_number: string | null;
  user_id: string | null; // FK users.id
  attributes: string; // JSON object of strings
  created_at: string;
  blocked_at: string | null; // 0003: set while an administrator blocks the device
  // 0002_device_reported_values: what the device reported about itself.
  reported_name: ColumnType<string | null, string | null | undefined, string | null>;
  reported_serial_number: ColumnType<string | null, string | null | undefined, string | null>;
  reported_conflicts: ColumnType<string, string | undefined, string>; // JSON array of ReportedField, default '[]'
  reported_at: ColumnType<string | null, string | null | undefined, string | null>;
  // 0006_lifecycle_triggers
  retired_at: ColumnType<string | null, string | null | undefined, string | null>;
  deleted_at: ColumnType<string | null, string | null | undefined, string | null>; // hidden from every read
  // 0012_device_retiring: set when an administrator retired the device; retired_at once its removals are done.
  retiring_since: ColumnType<string | null, string | null | undefined, string | null>;
  // 0018_device_plan_generation: advanced by every write that changes only this device's plan (core/plan-generation.ts).
  plan_generation: ColumnType<number, number | undefined, number>;
}

export interface GroupsTable {
  id: string;
  name: string; // unique
  created_at: string;
  // 0013_directory_source
  source: ColumnType<string, string | undefined, string>;
  external_id: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Exactly one of user_id / device_id is set (CHECK constraint). */
export interface GroupMembersTable {
  group_id: string;
  user_id: string | null;
  device_id: string | null;
  created_at: string;
}

export interface ProfilesTable {
  id: string;
  current_version: number;
  deleted_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface ProfileVersionsTable {
  profile_id: string;
  version: number;
  spec: string; // JSON ProfileSpec
  created_at: string;
}

export type TargetKind = 'user' | 'device' | 'group';

export interface AssignmentsTable {
  id: string;
  profile_id: string;
  target_kind: TargetKind;
  target_id: string;
  created_at: string;
}

export interface UsedChallengesTable {
  id: string;
  transaction_id: string | null;
  used_at: string;
  expires_at: string;
}

export interface EnrollmentsTable {
  transaction_id: string;
  status: string; // EnrollmentStatus
  kind: string; // CertificateKind
  challenge_id: string | null;
  profile_id: string | null;
  profile_version: number | null;
  device_id: string | null;
  user_id: string | null;
  csr_sha256: string;
  csr_der: Bytes;
  resolved: string | null; // JSON ResolvedRequest
  renewal_of: string | null; // 0003: serial of the certificate a renewal is authenticated by
  certificate_serial: string | null;
  created_at: string;
  updated_at: string;
}

export interface CertificatesTable {
  serial_number: string;
  kind: string; // CertificateKind
  subject: string;
  not_before: string;
  not_after: string;
  thumbprint: string;
  sha256: string;
  transaction_id: string | null;
  profile_id: string | null;
  profile_version: number | null;
  device_id: string | null;
  user_id: string | null;
  der: Bytes;
  issued_at: string;
  revoked_at: string | null;
  revocation_reason: string | null; // 0003: RevocationReason, set with revoked_at
  renewal_of: string | null; // 0003: serial of the predecessor this certificate renews
  issuer_id: string | null; // 0005: CertificateAuthority.id of the signing CA
}

export interface AuditEventsTable {
  id: SequenceId;
  at: string;
  transaction_id: string | null;
  type: string;
  reason_code: string | null;
  actor: string | null;
  details: string; // JSON object
}

export interface DeliveryStatusTable {
  device_id: string;
  profile_id: string;
  profile_version: number | string;
  state: string;
  thumbprint: string | null;
  certificate_serial: string | null;
  error_code: string | null;
  detail: string | null;
  updated_at: string;
}

export interface EnrollmentTokensTable {
  id: string;
  token_sha256: string;
  platform: string;
  user_id: string | null;
  device_id: string | null;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

export interface DeviceCommandsTable {
  id: string;
  device_id: string;
  channel: string;
  kind: string;
  payload: string; // JSON
  profile_id: string | null;
  profile_version: number | string | null;
  status: string;
  result: string | null; // JSON
  created_at: string;
  updated_at: string;
}

export interface PlatformStateTable {
  device_id: string;
  adapter: string;
  state: string; // JSON
  updated_at: string;
  /** Bumped by every write: compare-and-set across instances (migration 0014). */
  version: Generated<number>;
}

export interface SettingsTable {
  key: string;
  value: string;
  updated_at: string;
}

/** 0009: the last CRL Number each CA used (RFC 5280 5.2.3: it only ever grows). */
export interface CrlStateTable {
  issuer_id: string;
  crl_number: number | string | bigint; // bigint column: pg returns int8 as a string
  updated_at: string;
}

/** 0006: a profile certificate whose profile no longer reaches its device, until revoked or the profile comes back. */
export interface PendingRemovalsTable {
  serial_number: string; // FK certificates.serial_number
  device_id: string;
  profile_id: string;
  since: string;
}

/** 0007: an identity challenge minted to renew a device identity, and the certificate it renews. */
export interface IdentityRenewalChallengesTable {
  challenge_id: string;
  renewal_of: string;
  expires_at: string;
}

export interface Database {
  users: UsersTable;
  devices: DevicesTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  profiles: ProfilesTable;
  profile_versions: ProfileVersionsTable;
  assignments: AssignmentsTable;
  used_challenges: UsedChallengesTable;
  enrollments: EnrollmentsTable;
  certificates: CertificatesTable;
  audit_events: AuditEventsTable;
  delivery_status: DeliveryStatusTable;
  enrollment_tokens: EnrollmentTokensTable;
  device_commands: DeviceCommandsTable;
  platform_state: PlatformStateTable;
  key_material: KeyMaterialTable;
  leases: LeasesTable;
  settings: SettingsTable;
  crl_state: CrlStateTable;
  pending_removals: PendingRemovalsTable;
  upstream_requests: UpstreamRequestsTable;
  identity_renewal_challenges: IdentityRenewalChallengesTable;
}

export type UserRow = Selectable<UsersTable>;
export type DeviceRow = Selectable<DevicesTable>;
export type GroupRow = Selectable<GroupsTable>;
export type AssignmentRow = Selectable<AssignmentsTable>;
export type EnrollmentRow = Selectable<EnrollmentsTable>;
export type NewEnrollmentRow = Insertable<EnrollmentsTable>;
export type CertificateRow = Selectable<CertificatesTable>;
export type NewCertificateRow = Insertable<CertificatesTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;

/** Sealed key material shared by every instance (migration 0014, core/keys/). */
export interface KeyMaterialTable {
  name: string;
  value: Uint8Array;
  version: number;
  updated_at: string;
}

/** Who runs a piece of scheduled work now, until when (migration 0014). */
export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: string;
}

/** An enrollment an upstream CA answered PENDING (migration 0016, ca/upstream/poller.ts). */
export interface UpstreamRequestsTable {
  transaction_id: string;
  upstream: string;
  state: string; // JSON, the connector's own
  created_at: string;
  next_poll_at: string;
  attempts: ColumnType<number, number | undefined, number>;
  last_error: string | null;
}
