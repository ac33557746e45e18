import type { KeyUsageName, RdnAttribute } from './model.js';

/** A subject alternative name as found in a CSR; types beyond the profile's are kept so they can be refused. */
export interface CsrSan {
  type: 'upn' | 'email' | 'dns' | 'uri' | 'ip' | 'other';
  value: string;
}

/**
 * What the policy module needs to know about a PKCS#10 request. Produced by
 * the CSR parser (src/x509/csr-parser.ts); core never parses DER itself.
 */
export interface CsrInfo {
  der: Uint8Array;
  /** RDN attributes in encoding order; multi-valued RDNs are flattened. */
  subject: RdnAttribute[];
  subjectAltNames: CsrSan[];
  /** From the extensionRequest attribute; null when the CSR does not ask. */
  keyUsage: KeyUsageName[] | null;
  extendedKeyUsages: string[] | null;
  publicKey: {
    algorithm: 'RSA' | 'EC' | 'Ed25519' | 'other';
    /** Modulus bits for RSA, curve bits for EC. */
    bits: number;
    /** DER SubjectPublicKeyInfo. */
    spki: Uint8Array;
  };
  challengePassword: string | null;
  signatureValid: boolean;
}
