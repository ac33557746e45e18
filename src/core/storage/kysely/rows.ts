import type {
  Assignment,
  AssignmentTarget,
  AuditEvent,
  Attributes,
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
  ReportedField,
  ResolvedRequest,
  RevocationReason,
  User,
} from '../../model.js';
import type { AssignmentRow, AuditEventRow, CertificateRow, DeviceRow, EnrollmentRow, GroupRow, TargetKind, UserRow } from '../schema.js';
import { parseJson, toBytes, toNumber } from './support.js';

// Row -> model mappers and the reference (target/member) codecs, shared by the
// per-concern stores: a row of one table always reads back the same way.

export function targetOf(t: AssignmentTarget): { kind: TargetKind; id: string } {
  const keys = (['userId', 'deviceId', 'groupId'] as const).filter((k) => k in t && (t as Record<string, unknown>)[k] != null);
  if (keys.length !== 1) throw new TypeError('an assignment target names exactly one of userId, deviceId, groupId');
  const key = keys[0]!;
  const id = (t as Record<string, unknown>)[key];
  if (typeof id !== 'string') throw new TypeError(`${key} must be a string`);
  return { kind: key === 'userId' ? 'user' : key === 'deviceId' ? 'device' : 'group', id };
}

export function memberOf(m: MemberRef): { userId: string | null; deviceId: string | null } {
  const t = targetOf(m);
  if (t.kind === 'group') throw new TypeError('a group member is a userId or a deviceId');
  return t.kind === 'user' ? { userId: t.id, deviceId: null } : { userId: null, deviceId: t.id };
}

export function describeMember(m: { userId: string | null; deviceId: string | null }): string {
  return m.userId !== null ? `user ${m.userId}` : `device ${m.deviceId}`;
}

export function rowToUser(r: UserRow): User {
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

export function rowToDevice(r: DeviceRow): Device {
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

export function rowToGroup(r: GroupRow): Group {
  return { id: r.id, name: r.name, createdAt: r.created_at };
}

export function rowToAssignment(r: AssignmentRow): Assignment {
  const target: AssignmentTarget =
    r.target_kind === 'user'
      ? { userId: r.target_id }
      : r.target_kind === 'device'
        ? { deviceId: r.target_id }
        : { groupId: r.target_id };
  return { id: r.id, profileId: r.profile_id, target, createdAt: r.created_at };
}

export function rowToEnrollment(r: EnrollmentRow): Enrollment {
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

export function rowToCertificate(r: CertificateRow): IssuedCertificate {
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

export function rowToAudit(r: AuditEventRow): AuditEvent {
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

export interface ProfileJoinRow {
  id: string;
  created_at: string;
  version: number | string;
  spec: string;
  version_created_at: string;
}

export function rowToProfile(r: ProfileJoinRow): Profile {
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
