// A certificate as CMS uses it: just enough X.509 to match a
// SignerIdentifier/RecipientIdentifier and to get a verifying or encrypting
// key. BER-tolerant like the rest of the codec (it reads certificates
// embedded in peers' messages through ./ber-reader.ts), with Names re-encoded
// to definite lengths so a BER identifier still matches a DER certificate.
//
// Not the certificate reader for anything else: the CA copies exact DER
// slices with ../ca/cert-raw.ts (strict DER), and certificate facts for
// renewal and device identity (serial, names, validity, fingerprints) come
// from certificateInfo() in ../csr.ts, which is built on cert-raw.

import { createHash, type KeyObject } from 'node:crypto';
import { publicKeyFromSpki } from '../../x509/spki-key.js';
import { LruCache } from '../../x509/lru-cache.js';
import {
  childrenOf,
  contextChildren,
  definiteBytes,
  integerBytes,
  isContext,
  isUniversal,
  octetsOf,
  oidOf,
  parseBer,
  rawBytes,
  TAG,
  type Node,
} from './ber-reader.js';
import { sequence, tlv } from '../../x509/asn1/der.js';
import { malformed } from './errors.js';
import { SUBJECT_KEY_IDENTIFIER_OID } from './oids.js';

export interface CmsCertificate {
  der: Uint8Array;
  /** DER Name, as encoded in the certificate. */
  issuer: Uint8Array;
  subject: Uint8Array;
  /** INTEGER content octets, as encoded. */
  serialNumber: Uint8Array;
  /** DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
  subjectKeyIdentifier: Uint8Array | null;
}

/**
 * The RA's certificate is read on every request and a device's on each of its
 * messages: parsed forms and public keys are kept by DER hash (bounded), so
 * an enrollment does not re-parse them or rebuild a KeyObject (issue 13).
 * Cached values are copies (never views of a request buffer that is reused).
 */
export const CMS_CERTIFICATE_CACHE_ENTRIES = 2048;
const parsed = new LruCache<string, CmsCertificate>(CMS_CERTIFICATE_CACHE_ENTRIES);
const publicKeys = new WeakMap<CmsCertificate, KeyObject>();

export function readCmsCertificate(der: Uint8Array): CmsCertificate {
  const key = createHash('sha256').update(der).digest('base64');
  const hit = parsed.get(key);
  if (hit) return hit;
  const info = Object.freeze(parseCmsCertificate(new Uint8Array(der)));
  parsed.set(key, info);
  return info;
}

function parseCmsCertificate(der: Uint8Array): CmsCertificate {
  const what = 'certificate';
  const [tbs] = childrenOf(parseBer(der, what), TAG.SEQUENCE, what);
  const fields = childrenOf(tbs, TAG.SEQUENCE, 'tbsCertificate');
  let i = isContext(fields[0], 0) ? 1 : 0; // [0] EXPLICIT version
  const serialNumber = integerBytes(fields[i++], 'serialNumber');
  i++; // signature AlgorithmIdentifier
  const issuer = nameBytes(fields[i++], 'issuer');
  i++; // validity
  const subject = nameBytes(fields[i++], 'subject');
  const spkiNode = fields[i++];
  childrenOf(spkiNode, TAG.SEQUENCE, 'subjectPublicKeyInfo');
  let subjectKeyIdentifier: Uint8Array | null = null;
  for (const field of fields.slice(i)) {
    if (isContext(field, 3)) subjectKeyIdentifier = findSki(field);
  }
  return { der, issuer, subject, serialNumber, spki: rawBytes(spkiNode as Node), subjectKeyIdentifier };
}

function nameBytes(node: Node | undefined, what: string): Uint8Array {
  childrenOf(node, TAG.SEQUENCE, what);
  // Normalised lengths: a BER-encoded identifier must still match the DER certificate.
  return definiteBytes(node as Node);
}

function findSki(extensionsWrapper: Node): Uint8Array | null {
  const [extensions] = contextChildren(extensionsWrapper, 3, 'extensions');
  for (const ext of childrenOf(extensions, TAG.SEQUENCE, 'extensions')) {
    const parts = childrenOf(ext, TAG.SEQUENCE, 'extension');
    if (oidOf(parts[0], 'extnID') !== SUBJECT_KEY_IDENTIFIER_OID) continue;
    const value = octetsOf(parts[parts.length - 1], 'extnValue');
    const inner = parseBer(value, 'subjectKeyIdentifier');
    return isUniversal(inner, TAG.OCTET_STRING) ? octetsOf(inner, 'subjectKeyIdentifier') : null;
  }
  return null;
}

export function publicKeyOf(info: CmsCertificate): KeyObject {
  const known = publicKeys.get(info);
  if (known) return known;
  try {
    const key = publicKeyFromSpki(info.spki); // a new device's key: RSA without OpenSSL's slow DER decoder (spki-key.ts)
    publicKeys.set(info, key);
    return key;
  } catch (e) {
    throw malformed(`certificate public key unreadable: ${(e as Error).message}`);
  }
}

/** IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER } */
export function issuerAndSerialNumber(info: CmsCertificate): Uint8Array {
  return sequence(info.issuer, tlv(0x02, info.serialNumber));
}

export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/** Does an IssuerAndSerialNumber / SubjectKeyIdentifier identify this certificate? */
export function identifies(
  id: { issuer: Uint8Array; serialNumber: Uint8Array } | { subjectKeyIdentifier: Uint8Array },
  cert: CmsCertificate,
): boolean {
  if ('subjectKeyIdentifier' in id) {
    return cert.subjectKeyIdentifier !== null && sameBytes(cert.subjectKeyIdentifier, id.subjectKeyIdentifier);
  }
  return sameBytes(id.issuer, cert.issuer) && sameBytes(id.serialNumber, cert.serialNumber);
}

/** Parses a SignerIdentifier / RecipientIdentifier. */
export function readIdentifier(
  node: Node | undefined,
  what: string,
): { issuer: Uint8Array; serialNumber: Uint8Array } | { subjectKeyIdentifier: Uint8Array } {
  if (isContext(node, 0)) return { subjectKeyIdentifier: octetsOf(node, what) };
  const parts = childrenOf(node, TAG.SEQUENCE, what);
  if (parts.length !== 2) throw malformed(`${what}: expected issuerAndSerialNumber`);
  return { issuer: nameBytes(parts[0], `${what} issuer`), serialNumber: integerBytes(parts[1], `${what} serial`) };
}
