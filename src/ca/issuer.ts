import type { CertificateIssuer } from '../core/issuer.js';
import type { CertificateAuthority } from './authority.js';

// The built-in CA behind core's CertificateIssuer: core hands over the
// resolved request and the CSR's key, the authority signs exactly that.

export function builtInIssuer(authority: CertificateAuthority): CertificateIssuer {
  return {
    issue: (resolved, spki) =>
      authority.issue({
        subject: resolved.subject,
        subjectAlternativeNames: resolved.subjectAlternativeNames,
        extendedKeyUsages: resolved.extendedKeyUsages,
        keyUsage: resolved.keyUsage,
        validityDays: resolved.validityDays,
        hashAlgorithm: resolved.hashAlgorithm,
        spki,
        ...(resolved.securityIdentifier !== undefined && { securityIdentifier: resolved.securityIdentifier }),
      }),
  };
}
