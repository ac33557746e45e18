import type { IssuedCertificateData } from './issuer.js';
import type { CertificateKind, EnrollmentStatus, ResolvedRequest } from './model.js';
import type { NewCertificate, NewEnrollment } from './storage/storage.js';

// The rows Storage.recordEnrollment / completeEnrollment write for an
// issuance, built in one place: the SCEP path (enrollment.ts), direct identity
// issuance (identity-issuance.ts) and the tests that seed issued certificates
// all record the same fields the same way (owner, profile version, validity).

/** Who a resolved request is for, as the records keep it. */
function owner(resolved: ResolvedRequest): { deviceId: string | null; userId: string | null } {
  return { deviceId: resolved.target.deviceId, userId: resolved.target.kind === 'user' ? resolved.target.userId : null };
}

export function enrollmentRecord(o: {
  transactionId: string;
  status: EnrollmentStatus;
  kind: CertificateKind;
  resolved: ResolvedRequest;
  challengeId: string | null;
  csrSha256: string;
  csrDer: Uint8Array;
  renewalOf?: string | null;
}): NewEnrollment {
  return {
    transactionId: o.transactionId,
    status: o.status,
    kind: o.kind,
    challengeId: o.challengeId,
    profileId: o.resolved.profileId,
    profileVersion: o.resolved.profileVersion,
    ...owner(o.resolved),
    csrSha256: o.csrSha256,
    csrDer: o.csrDer,
    resolved: o.resolved,
    ...(o.renewalOf !== undefined && { renewalOf: o.renewalOf }),
  };
}

export function certificateRecord(kind: CertificateKind, transactionId: string, resolved: ResolvedRequest, cert: IssuedCertificateData): NewCertificate {
  return {
    serialNumber: cert.serialNumber,
    kind,
    subject: cert.subject,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    thumbprint: cert.thumbprint,
    sha256: cert.sha256,
    transactionId,
    profileId: resolved.profileId,
    profileVersion: resolved.profileVersion,
    ...owner(resolved),
    der: cert.der,
    issuerId: cert.issuerId,
  };
}
