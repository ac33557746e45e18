// Domain model shared by every part of the gateway. Plain data, no behaviour:
// storage backends persist it, the policy module reads it, adapters render it.

export const PLATFORMS = ['windows', 'ios', 'macos', 'android'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** Free-form directory attributes (custom template variables), string-valued. */
export type Attributes = Record<string, string>;

export interface User {
  id: string; // UUID
  userPrincipalName: string;
  email: string;
  displayName: string;
  attributes: Attributes;
  createdAt: string; // ISO-8601
  /** false once an administrator disabled the user (PATCH enabled:false): user-scope profiles no longer resolve for them. */
  enabled: boolean;
  disabledAt: string | null;
}

export interface Device {
  id: string; // UUID
  /** The admin's name; null when the admin set none (a device an enrollment created). */
  name: string | null;
  platform: Platform;
  /** The admin's serial number; null when the admin set none. */
  serialNumber: string | null;
  userId: string | null;
  attributes: Attributes;
  /** What the device itself said: kept beside the admin's values, never written over them. */
  reported: DeviceReported;
  createdAt: string;
  /**
   * Set while an administrator has blocked the device (POST /devices/:id/block):
   * it gets no certificate and every device route refuses it (403).
   */
  blockedAt: string | null;
  /**
   * Set once an administrator retired the device (POST /devices/:id/retire):
   * its certificates are revoked and it can neither check in nor enroll again.
   */
  retiredAt: string | null;
  /**
   * Set when an administrator retired the device: its profile certificates are
   * revoked and its identity only receives the removal of its profiles until
   * retiredAt is set (platform confirmation or the removal grace period).
   */
  retiringSince: string | null;
}

/** Device-reported identifiers that profile templates may fall back on ({{DeviceName}}, {{SerialNumber}}). */
export const REPORTED_FIELDS = ['name', 'serialNumber'] as const;
export type ReportedField = (typeof REPORTED_FIELDS)[number];

/**
 * Values a device reported about itself (Apple Authenticate, Android
 * enrollment, Windows enrollment context). A device can claim anything, so a
 * reported value equal to another device's name or serial (admin's or
 * reported, case-insensitive) is listed in `conflicts` and never used in a
 * certificate (core/reported-values.ts).
 */
export interface DeviceReported {
  name: string | null;
  serialNumber: string | null;
  conflicts: ReportedField[];
  /** When these values were last written (a report that changed them, or a new conflict); null if the device never reported. */
  updatedAt: string | null;
}

export interface Group {
  id: string;
  name: string;
  createdAt: string;
}

/** A group member is exactly one of a user or a device. */
export type MemberRef = { userId: string } | { deviceId: string };

// ---- certificate profiles -------------------------------------------------

export const SAN_TYPES = ['upn', 'email', 'dns', 'uri'] as const;
export type SanType = (typeof SAN_TYPES)[number];
export interface SanEntry {
  type: SanType;
  value: string;
}

/** RFC 5280 keyUsage bit names, in bit order (bit 0 first). */
export const KEY_USAGES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsageName = (typeof KEY_USAGES)[number];

export const KEY_SIZES = [1024, 2048, 4096] as const;
export type KeySize = (typeof KEY_SIZES)[number];

export const HASH_ALGORITHMS = ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

export const KEY_PROTECTIONS = ['tpmRequired', 'tpmIfPresent', 'software'] as const;
export type KeyProtection = (typeof KEY_PROTECTIONS)[number];

export type ProfileScope = 'user' | 'device';

/** What an admin writes; templates are unresolved ({{DeviceName}} etc.). */
export interface ProfileSpec {
  name: string;
  scope: ProfileScope;
  /** Comma-separated TYPE=value RDNs, e.g. `CN={{DeviceName}},OU=MDM,O=Contoso`. */
  subjectName: string;
  subjectAlternativeNames: SanEntry[];
  /** Dotted OIDs, e.g. 1.3.6.1.5.5.7.3.2 (clientAuth). */
  extendedKeyUsages: string[];
  keyUsage: KeyUsageName[];
  /** Policy minimum for the device-generated key. */
  keySize: KeySize;
  hashAlgorithm: HashAlgorithm;
  validityDays: number;
  renewalThresholdPercent: number;
  keyProtection: KeyProtection;
  keyExportable: boolean;
  /** Empty means: the gateway's own SCEP URL. Several: one picked at random per delivery. */
  scepServerUrls: string[];
  /** PEM of the root the device should trust; null means: our own CA root. */
  trustedRootCertificate: string | null;
  /** When true, SCEP answers PENDING until an admin approves the enrollment. */
  requireApproval: boolean;
  /**
   * When true (the default), a certificate of this profile is revoked once the
   * profile no longer reaches its device: when the platform confirms the
   * removal, or when the removal grace period ends (docs/lifecycle.md).
   */
  revokeOnRemoval: boolean;
  /**
   * Which CA issues this profile's certificates: a configured upstream CA's
   * name (docs/upstream-ca.md) or `default` (the built-in CA, also when unset).
   */
  issuer?: string;
}

export interface Profile extends ProfileSpec {
  id: string;
  version: number; // starts at 1; every PUT makes a new version
  createdAt: string;
  updatedAt: string;
}

// ---- assignments ----------------------------------------------------------

export type AssignmentTarget = { userId: string } | { deviceId: string } | { groupId: string };

export interface Assignment {
  id: string;
  profileId: string;
  target: AssignmentTarget;
  createdAt: string;
}

// ---- resolved requests ------------------------------------------------------

/** One relative distinguished name attribute, e.g. {type: 'CN', value: 'laptop-1'}. */
export interface RdnAttribute {
  type: string; // short name (CN, OU, O, L, ST, C, E, SERIALNUMBER, DC, UID) or dotted OID
  value: string;
}

/**
 * Who a challenge (and so a certificate) is for. A user-scope profile delivered
 * to a device names both: the certificate is the user's, on that device.
 */
export type Target =
  | { kind: 'device'; deviceId: string }
  | { kind: 'user'; userId: string; deviceId: string | null };

/** A profile with every template filled for one target: what the CSR must match. */
export interface ResolvedRequest {
  /** null for the device identity certificate, which no admin profile describes. */
  profileId: string | null;
  profileVersion: number | null;
  target: Target;
  subject: RdnAttribute[];
  subjectAlternativeNames: SanEntry[];
  extendedKeyUsages: string[];
  keyUsage: KeyUsageName[];
  keySize: KeySize;
  hashAlgorithm: HashAlgorithm;
  validityDays: number;
}

// ---- issuance -------------------------------------------------------------

export type CertificateKind = 'profile' | 'identity';

/**
 * RFC 5280 section 5.3.1 CRLReason names and their codes (7 is unused). Stored
 * by name with every revocation; the CRL/OCSP work reads the codes.
 */
export const REVOCATION_REASON_CODES = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASON_CODES;

/**
 * The reasons an administrator may give for one of our end-entity
 * certificates: removeFromCRL only exists as a delta-CRL entry, and
 * cACompromise / aACompromise describe CA and attribute-authority certificates.
 */
export const END_ENTITY_REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
] as const satisfies readonly RevocationReason[];

export interface IssuedCertificate {
  serialNumber: string; // lower-case hex, no leading zeros beyond one byte's worth
  kind: CertificateKind;
  subject: string; // RFC 4514-ish display string
  notBefore: string;
  notAfter: string;
  thumbprint: string; // SHA-1 of DER, upper-case hex (what Windows and Apple show)
  sha256: string; // SHA-256 of DER, lower-case hex
  transactionId: string | null;
  profileId: string | null;
  profileVersion: number | null;
  deviceId: string | null;
  userId: string | null;
  der: Uint8Array;
  issuedAt: string;
  revokedAt: string | null;
  /** Why it was revoked (set exactly when revokedAt is). */
  revocationReason: RevocationReason | null;
  /**
   * The CA that signed it: lower-case hex of that CA's subject key identifier
   * (CertificateAuthority.id). CRLs and OCSP answer per CA, and after a CA
   * rollover the retired CA keeps answering for what it issued. null only for
   * a row recorded before migration 0005 until the gateway's start assigns it
   * (before 0005 there was only ever one CA).
   */
  issuerId: string | null;
  /**
   * The serial of the certificate this one renews (a RenewalReq, or a PKCSReq
   * treated as one, authenticated by that certificate), else null. Revoking a
   * certificate revokes its renewals, transitively.
   */
  renewalOf: string | null;
}

export type EnrollmentStatus = 'pending' | 'issued' | 'rejected';

/** One SCEP transaction as the gateway remembers it. */
export interface Enrollment {
  transactionId: string;
  status: EnrollmentStatus;
  kind: CertificateKind;
  challengeId: string | null;
  profileId: string | null;
  profileVersion: number | null;
  deviceId: string | null;
  userId: string | null;
  /** SHA-256 hex of the CSR DER: a retried PKCSReq must carry the same CSR. */
  csrSha256: string;
  csrDer: Uint8Array;
  /** The resolved request the CSR was checked against (JSON), kept so approval can issue later. */
  resolved: ResolvedRequest | null;
  /** A renewal: the serial of the certificate authenticating it (its certificate records it as renewalOf). */
  renewalOf: string | null;
  certificateSerial: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface AuditEvent {
  id: number;
  at: string;
  transactionId: string | null;
  /** e.g. scep.received, crp.check.failed, ca.issued, admin.profile.created */
  type: string;
  /** Stable reason code for refusals (see core/reasons.ts), else null. */
  reasonCode: string | null;
  actor: string | null; // 'admin', 'device:<id>', 'scep'
  details: Record<string, unknown>;
}

// ---- delivery status ----------------------------------------------------------

export const DELIVERY_STATES = ['pending', 'enrolling', 'installed', 'failed', 'removed'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** What a device last reported about one profile (per device and profile). */
export interface DeliveryStatus {
  deviceId: string;
  profileId: string;
  profileVersion: number;
  state: DeliveryState;
  /** SHA-1 thumbprint the device reported (upper-case hex). */
  thumbprint: string | null;
  /** The certificate we issued with that thumbprint, when it matches one. */
  certificateSerial: string | null;
  /** The platform's own error code (Windows HRESULT, Apple error code, agent code). */
  errorCode: string | null;
  detail: string | null;
  updatedAt: string;
}

// ---- adapter support: enrollment tokens, command queue, platform state ---------

/** A one-time enrollment token as stored: only its SHA-256 is kept, never the token. */
export interface EnrollmentToken {
  id: string;
  platform: Platform;
  userId: string | null;
  deviceId: string | null;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
}

export const COMMAND_STATUSES = ['queued', 'sent', 'acknowledged', 'error', 'notnow', 'formaterror', 'cancelled'] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

/** A command an adapter queued for a device (Apple MDM commands, Windows OMA-DM batches). */
export interface DeviceCommand {
  id: string; // UUID; Apple's CommandUUID
  deviceId: string;
  /** Which channel of the device: 'device', or e.g. 'user:<UserID>' for the macOS user channel. */
  channel: string;
  /** The command's kind, e.g. InstallProfile. */
  kind: string;
  payload: Record<string, unknown>;
  profileId: string | null;
  profileVersion: number | null;
  status: CommandStatus;
  result: Record<string, unknown> | null;
  createdAt: string;
  updatedAt: string;
}

// ---- lifecycle: revocation triggers ----------------------------------------------

/**
 * A profile certificate whose profile no longer reaches its device (assignment
 * or group membership gone, profile deleted, primary user changed): revoked
 * when the platform confirms the removal or once `since` is older than the
 * removal grace period; dropped if the profile reaches the device again first.
 */
export interface PendingRemoval {
  serialNumber: string;
  deviceId: string;
  profileId: string;
  since: string;
}
