import type { ResolvedRequest } from './model.js';

// What core needs from a CA: turn an approved, resolved request and the
// device's public key into a certificate. The built-in CA (src/ca/issuer.ts)
// implements it; an external CA connector could too.

export interface IssuedCertificateData {
  der: Uint8Array;
  serialNumber: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  thumbprint: string;
  sha256: string;
  /** The signing CA's id (CertificateAuthority.id), recorded with the certificate. */
  issuerId: string;
}

export interface CertificateIssuer {
  issue(resolved: ResolvedRequest, spki: Uint8Array): Promise<IssuedCertificateData>;
}
