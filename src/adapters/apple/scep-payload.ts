import { X509Certificate, createHash } from 'node:crypto';
import type { KeyUsageName, RdnAttribute, SanEntry } from '../../core/model.js';
import type { PlistDict } from './plist-codec.js';
import { LruCache } from '../../x509/lru-cache.js';

// The pieces of a com.apple.security.scep payload, each a pure mapping from
// the gateway's resolved request to Apple's representation
// (../shared/reference/apple/mdm/profiles/com.apple.security.scep.yaml).

/** Apple names these six attributes by short name; every other one goes as a dotted OID. */
const APPLE_SHORT_NAMES = new Set(['C', 'L', 'ST', 'O', 'OU', 'CN']);
const OID_OF: Record<string, string> = {
  E: '1.2.840.113549.1.9.1',
  EMAIL: '1.2.840.113549.1.9.1',
  EMAILADDRESS: '1.2.840.113549.1.9.1',
  SERIALNUMBER: '2.5.4.5',
  DC: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
  STREET: '2.5.4.9',
  T: '2.5.4.12',
  TITLE: '2.5.4.12',
  GN: '2.5.4.42',
  SN: '2.5.4.4',
};

/** `[[["CN","x"]],[["O","y"]]]`: one inner array per RDN, each holding one [type, value] pair. */
export function subjectArray(subject: readonly RdnAttribute[]): string[][][] {
  return subject.map((a) => [[appleAttributeType(a.type), a.value]]);
}

export function appleAttributeType(type: string): string {
  const upper = type.toUpperCase();
  if (APPLE_SHORT_NAMES.has(upper)) return upper;
  if (/^\d+(\.\d+)+$/.test(type)) return type;
  const oid = OID_OF[upper];
  if (!oid) throw new Error(`subject attribute type ${type} has no OID mapping for Apple`);
  return oid;
}

/**
 * Apple's Key Usage bitmask: 1 signing (the CSR asks digitalSignature), 4
 * encryption (keyEncipherment). A bit is set only when the profile allows the
 * key usage the device will then ask for, so the CRP cannot refuse the CSR
 * for asking more than the profile allows. 0 means: ask for none.
 */
export function keyUsageBits(usages: readonly KeyUsageName[]): number {
  return (usages.includes('digitalSignature') ? 1 : 0) | (usages.includes('keyEncipherment') ? 4 : 0);
}

const SAN_KEY: Record<SanEntry['type'], string> = {
  email: 'rfc822Name',
  dns: 'dNSName',
  uri: 'uniformResourceIdentifier',
  upn: 'ntPrincipalName',
};

/** The SubjectAltName dictionary: a string per type, or an array of strings when a type repeats. */
export function subjectAltNameDict(sans: readonly SanEntry[]): PlistDict | null {
  if (sans.length === 0) return null;
  const grouped = new Map<string, string[]>();
  for (const s of sans) {
    const key = SAN_KEY[s.type];
    grouped.set(key, [...(grouped.get(key) ?? []), s.value]);
  }
  const out: PlistDict = {};
  for (const key of Object.values(SAN_KEY)) {
    const values = grouped.get(key);
    if (values) out[key] = values.length === 1 ? values[0]! : values;
  }
  return out;
}

/**
 * A root's DER by its exact PEM text, parsed once (issue 13, apple13: every
 * rendered profile parsed the same root twice with X509Certificate, for its
 * DER and its fingerprint: about 12% of an Apple connect's samples). Pure
 * functions of the text; a PEM that does not parse is not kept (it throws
 * every time). LRU: the CA roots and the profiles' own trusted roots.
 */
export const PEM_DER_CACHE = new LruCache<string, { der: Uint8Array; sha1: Uint8Array }>(64);

function parsedPem(pem: string): { der: Uint8Array; sha1: Uint8Array } {
  let known = PEM_DER_CACHE.get(pem);
  if (!known) {
    const der = new Uint8Array(new X509Certificate(pem).raw);
    known = { der, sha1: new Uint8Array(createHash('sha1').update(der).digest()) };
    PEM_DER_CACHE.set(pem, known);
  }
  return known;
}

/**
 * CAFingerprint: the SHA-1 fingerprint of the CA certificate. Apple's schema
 * only says <data>; devices have long accepted MD5 and SHA-1 here, so SHA-1 is
 * what works on every OS version we serve (see docs/apple.md).
 * Each caller gets its own copy (the kept bytes cannot be changed through it).
 */
export function caFingerprint(pem: string): Uint8Array {
  return parsedPem(pem).sha1.slice();
}

export function pemToDer(pem: string): Uint8Array {
  return parsedPem(pem).der.slice();
}
