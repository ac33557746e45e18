import type { HashAlgorithm, KeyProtection, KeyUsageName, RdnAttribute } from '../../core/model.js';

// Core's profile vocabulary (X.509 names, Windows-flavoured key protection)
// to Android's: KeyProperties purposes and digests for KeyGenParameterSpec,
// the Android Keystore's security levels, and subject strings that
// javax.security.auth.x500.X500Principal parses.

/**
 * KeyProperties.PURPOSE_* for the private key in the Android Keystore, from the
 * certificate's X.509 keyUsage bits (public-key operations happen outside the
 * Keystore, so VERIFY and ENCRYPT are never needed).
 */
export type KeyPurpose = 'PURPOSE_SIGN' | 'PURPOSE_DECRYPT' | 'PURPOSE_AGREE_KEY';

const PURPOSE_BY_USAGE: Record<KeyUsageName, KeyPurpose> = {
  digitalSignature: 'PURPOSE_SIGN',
  nonRepudiation: 'PURPOSE_SIGN',
  keyCertSign: 'PURPOSE_SIGN',
  cRLSign: 'PURPOSE_SIGN',
  keyEncipherment: 'PURPOSE_DECRYPT',
  dataEncipherment: 'PURPOSE_DECRYPT',
  keyAgreement: 'PURPOSE_AGREE_KEY',
  encipherOnly: 'PURPOSE_AGREE_KEY',
  decipherOnly: 'PURPOSE_AGREE_KEY',
};
const PURPOSE_ORDER: KeyPurpose[] = ['PURPOSE_SIGN', 'PURPOSE_DECRYPT', 'PURPOSE_AGREE_KEY'];

/**
 * The purposes to pass to KeyGenParameterSpec.Builder. PURPOSE_SIGN always:
 * the agent signs the CSR and the SCEP request with the key. PURPOSE_AGREE_KEY
 * needs an EC key (API 31); an RSA key never gets it.
 */
export function keyPurposes(keyUsage: readonly KeyUsageName[], keyAlgorithm: 'RSA' | 'EC'): KeyPurpose[] {
  const wanted = new Set<KeyPurpose>(['PURPOSE_SIGN', ...keyUsage.map((u) => PURPOSE_BY_USAGE[u])]);
  if (keyAlgorithm === 'RSA') wanted.delete('PURPOSE_AGREE_KEY');
  return PURPOSE_ORDER.filter((p) => wanted.has(p));
}

/**
 * KeyProperties.SIGNATURE_PADDING_RSA_*: PKCS#1 v1.5 for the CSR and SCEP,
 * PSS because TLS 1.3 client authentication signs with RSA-PSS.
 */
export const RSA_SIGNATURE_PADDINGS = ['PKCS1', 'PSS'] as const;
/** KeyProperties.ENCRYPTION_PADDING_RSA_*, when the key may decrypt. */
export const RSA_ENCRYPTION_PADDINGS = ['PKCS1Padding', 'OAEPPadding'] as const;

/** KeyProperties.DIGEST_* values are the JCA names, which core's names already are. */
export function keyDigests(hash: HashAlgorithm): string[] {
  // SHA-256 is always allowed too: the agent signs the CSR (and the SCEP
  // request) with it whatever the certificate's signature hash will be.
  return hash === 'SHA-256' ? ['SHA-256'] : ['SHA-256', hash];
}

/** tpmRequired is "the key lives in secure hardware" (TEE or StrongBox): KeyInfo.getSecurityLevel() != SOFTWARE. */
export function requiresHardwareBacked(p: KeyProtection): boolean {
  return p === 'tpmRequired';
}

// Keywords X500Principal(String) recognises (RFC 1779, RFC 2253 and its own
// extras). Anything else is written as a dotted OID.
const X500_KEYWORDS: Record<string, string> = {
  CN: 'CN',
  C: 'C',
  L: 'L',
  ST: 'ST',
  O: 'O',
  OU: 'OU',
  STREET: 'STREET',
  DC: 'DC',
  UID: 'UID',
  SERIALNUMBER: 'SERIALNUMBER',
  E: 'EMAILADDRESS',
  EMAIL: 'EMAILADDRESS',
  EMAILADDRESS: 'EMAILADDRESS',
};

const OIDS: Record<string, string> = { T: '2.5.4.12', GN: '2.5.4.42', SN: '2.5.4.4', TITLE: '2.5.4.12' };

/** RFC 4514 value escaping: the specials anywhere, a leading space or #, a trailing space. */
export function escapeRdnValue(v: string): string {
  let out = v.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`);
  if (out.startsWith(' ') || out.startsWith('#')) out = `\\${out}`;
  if (out.endsWith(' ') && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/**
 * A subject as a string `new X500Principal(subject)` accepts, RDNs in the
 * order the profile names them (RFC 4514 order: most specific first).
 */
export function x500Subject(rdns: readonly RdnAttribute[]): string {
  return rdns
    .map(({ type, value }) => {
      const upper = type.toUpperCase();
      const keyword = X500_KEYWORDS[upper] ?? OIDS[upper] ?? type;
      return `${keyword}=${escapeRdnValue(value)}`;
    })
    .join(',');
}
