// Algorithm identifiers <-> the names node:crypto and our types use.

import type { HashName } from '../../x509/keys.js';
import { algorithmIdentifier, nullValue } from '../../x509/asn1/der.js';
import { CIPHER_OID, DIGEST_OID, SIGNATURE_OID } from './oids.js';
import type { ContentCipher } from './types.js';

export function digestFromOid(oid: string): HashName | null {
  for (const [name, value] of Object.entries(DIGEST_OID)) if (value === oid) return name as HashName;
  return null;
}

/** SHA-2 AlgorithmIdentifiers are written with absent parameters (RFC 5754 section 2). */
export const digestAlgorithmIdentifier = (hash: HashName): Uint8Array => algorithmIdentifier(DIGEST_OID[hash]);

export interface CipherSpec {
  oid: string;
  keyLength: number;
  ivLength: number;
}

export const CIPHERS: Record<ContentCipher, CipherSpec> = {
  'des-cbc': { oid: CIPHER_OID['des-cbc'], keyLength: 8, ivLength: 8 },
  'des-ede3-cbc': { oid: CIPHER_OID['des-ede3-cbc'], keyLength: 24, ivLength: 8 },
  'aes-128-cbc': { oid: CIPHER_OID['aes-128-cbc'], keyLength: 16, ivLength: 16 },
  'aes-192-cbc': { oid: CIPHER_OID['aes-192-cbc'], keyLength: 24, ivLength: 16 },
  'aes-256-cbc': { oid: CIPHER_OID['aes-256-cbc'], keyLength: 32, ivLength: 16 },
};

export function cipherFromOid(oid: string): ContentCipher | null {
  for (const [name, spec] of Object.entries(CIPHERS)) if (spec.oid === oid) return name as ContentCipher;
  return null;
}

/**
 * What a SignerInfo.signatureAlgorithm means for verification. CMS allows both
 * the bare key algorithm (rsaEncryption, as OpenSSL writes) and the combined
 * sha*WithRSA / ecdsa-with-SHA* forms (as Go and pkijs write); the digest that
 * counts is SignerInfo.digestAlgorithm either way.
 */
export function signatureKeyType(oid: string): 'rsa' | 'ec' | null {
  switch (oid) {
    case SIGNATURE_OID.rsaEncryption:
    case SIGNATURE_OID.sha1WithRSAEncryption:
    case SIGNATURE_OID.sha256WithRSAEncryption:
    case SIGNATURE_OID.sha384WithRSAEncryption:
    case SIGNATURE_OID.sha512WithRSAEncryption:
      return 'rsa';
    case SIGNATURE_OID.ecPublicKey:
    case SIGNATURE_OID.ecdsaWithSHA1:
    case SIGNATURE_OID.ecdsaWithSHA256:
    case SIGNATURE_OID.ecdsaWithSHA384:
    case SIGNATURE_OID.ecdsaWithSHA512:
      return 'ec';
    default:
      return null; // RSASSA-PSS, EdDSA, ...: not used by SCEP peers we know
  }
}

const ECDSA_OID: Record<HashName, string> = {
  sha1: SIGNATURE_OID.ecdsaWithSHA1,
  sha256: SIGNATURE_OID.ecdsaWithSHA256,
  sha384: SIGNATURE_OID.ecdsaWithSHA384,
  sha512: SIGNATURE_OID.ecdsaWithSHA512,
};

/** rsaEncryption with NULL for RSA (RFC 3370 3.2, what OpenSSL writes); ecdsa-with-SHA* for EC (RFC 5753). */
export function signatureAlgorithmIdentifier(keyAlgorithm: 'RSA' | 'EC', hash: HashName): Uint8Array {
  return keyAlgorithm === 'RSA'
    ? algorithmIdentifier(SIGNATURE_OID.rsaEncryption, nullValue())
    : algorithmIdentifier(ECDSA_OID[hash]);
}
