// Writes and signs X.509 v3 certificates (root, RA and issued ones). The TBS
// is built with the DER writer in ../asn1/der.ts and signed through
// PrivateKeyOps, so the CA key never has to be a node:crypto KeyObject (a
// PKCS#11 token can sign instead).

import { createHash } from 'node:crypto';
import type { HashAlgorithm, KeyUsageName, SanEntry } from '../core/model.js';
import { KEY_USAGES } from '../core/model.js';
import type { HashName, PrivateKeyOps } from '../x509/keys.js';
import { fromHex } from '../x509/asn1/bytes.js';
import {
  bitString,
  bool,
  contextConstructed,
  contextPrimitive,
  DerError,
  ia5String,
  integer,
  nullValue,
  objectIdentifier,
  octetString,
  sequence,
  time,
  unsignedInteger,
  utf8String,
} from '../x509/asn1/der.js';
import { children, content, readWhole } from '../x509/asn1/der-reader.js';

export const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  crlDistributionPoints: '2.5.29.31',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  accessOcsp: '1.3.6.1.5.5.7.48.1',
  accessCaIssuers: '1.3.6.1.5.5.7.48.2',
  upn: '1.3.6.1.4.1.311.20.2.3',
  ntdsCaSecurity: '1.3.6.1.4.1.311.25.2',
  ntdsObjectSid: '1.3.6.1.4.1.311.25.2.1',
} as const;

const HASH_NAMES: Readonly<Record<HashAlgorithm, HashName>> = {
  'SHA-1': 'sha1',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};

export function hashName(h: HashAlgorithm): HashName {
  const n = HASH_NAMES[h];
  if (!n) throw new DerError(`unsupported hash algorithm: ${String(h)}`);
  return n;
}

const RSA_SIG_OIDS: Readonly<Record<HashName, string>> = {
  sha1: '1.2.840.113549.1.1.5',
  sha256: '1.2.840.113549.1.1.11',
  sha384: '1.2.840.113549.1.1.12',
  sha512: '1.2.840.113549.1.1.13',
};
const EC_SIG_OIDS: Readonly<Record<HashName, string>> = {
  sha1: '1.2.840.10045.4.1',
  sha256: '1.2.840.10045.4.3.2',
  sha384: '1.2.840.10045.4.3.3',
  sha512: '1.2.840.10045.4.3.4',
};

/** AlgorithmIdentifier DER for a signature by `keyAlg` with `hash`. */
export function signatureAlgorithm(keyAlg: 'RSA' | 'EC', hash: HashName): Uint8Array {
  // RSA PKCS#1 v1.5 algorithm identifiers carry an explicit NULL; ECDSA ones omit parameters (RFC 5758).
  return keyAlg === 'RSA' ? sequence(objectIdentifier(RSA_SIG_OIDS[hash]), nullValue()) : sequence(objectIdentifier(EC_SIG_OIDS[hash]));
}

export interface Extension {
  oid: string;
  critical: boolean;
  /** DER of the extension value (what goes inside extnValue's OCTET STRING). */
  value: Uint8Array;
}

export function encodeExtension(e: Extension): Uint8Array {
  return e.critical ? sequence(objectIdentifier(e.oid), bool(true), octetString(e.value)) : sequence(objectIdentifier(e.oid), octetString(e.value));
}

export function basicConstraints(ca: boolean): Extension {
  // CA:FALSE is the DEFAULT, so DER omits it: an empty SEQUENCE.
  return { oid: OID.basicConstraints, critical: true, value: ca ? sequence(bool(true)) : sequence() };
}

/** keyUsage as a named-bit BIT STRING: trailing zero bits removed (DER), always critical. */
export function keyUsage(names: readonly KeyUsageName[]): Extension {
  let bits = 0;
  for (const n of names) {
    const i = KEY_USAGES.indexOf(n);
    if (i < 0) throw new DerError(`unknown keyUsage: ${String(n)}`);
    bits |= 1 << i;
  }
  if (bits === 0) throw new DerError('keyUsage needs at least one usage');
  let highest = 0;
  for (let i = 0; i < KEY_USAGES.length; i++) if (bits & (1 << i)) highest = i;
  const nBytes = Math.floor(highest / 8) + 1;
  const bytes = new Uint8Array(nBytes);
  for (let i = 0; i <= highest; i++) if (bits & (1 << i)) bytes[i >> 3]! |= 0x80 >> (i & 7);
  const unused = nBytes * 8 - (highest + 1);
  return { oid: OID.keyUsage, critical: true, value: bitString(bytes, unused) };
}

export function extendedKeyUsage(oids: readonly string[]): Extension {
  return { oid: OID.extKeyUsage, critical: false, value: sequence(...oids.map((o) => objectIdentifier(o))) };
}

/** SAN: email -> rfc822Name, dns -> dNSName, uri -> URI, upn -> otherName(UPN, [0] UTF8String). */
export function subjectAltName(sans: readonly SanEntry[]): Extension {
  const names = sans.map((s) => {
    if (s.value.length === 0) throw new DerError(`empty ${s.type} subject alternative name`);
    switch (s.type) {
      case 'email':
        return ia5String(s.value, 0x81);
      case 'dns':
        return ia5String(s.value, 0x82);
      case 'uri':
        return ia5String(s.value, 0x86);
      case 'upn':
        return contextConstructed(0, objectIdentifier(OID.upn), contextConstructed(0, utf8String(s.value)));
      default:
        throw new DerError(`unsupported SAN type: ${String((s as SanEntry).type)}`);
    }
  });
  return { oid: OID.subjectAltName, critical: false, value: sequence(...names) };
}

/**
 * Microsoft's NTDS CA security extension (szOID_NTDS_CA_SECURITY_EXT,
 * KB5014754 strong certificate mapping), non-critical. Its value, per
 * [MS-WCCE] 2.2.2.7.7.4 and as AD CS writes it (checked against the bytes of
 * a DC certificate from AD CS, and TameMyCerts' SidCertificateExtension):
 *   SEQUENCE {                                  -- GeneralNames
 *     [0] {                                     -- otherName, IMPLICIT
 *       OID 1.3.6.1.4.1.311.25.2.1,             -- szOID_NTDS_OBJECTSID
 *       [0] { OCTET STRING "S-1-5-21-..." } } } -- the SID as ASCII text
 * The SID comes from the resolved request (the directory), never the CSR.
 */
export function ntdsCaSecurity(sid: string): Extension {
  if (!/^S-1-[0-9]+(-[0-9]+){1,15}$/.test(sid)) throw new DerError(`not a SID: ${JSON.stringify(sid.slice(0, 64))}`);
  const text = new Uint8Array(Buffer.from(sid, 'ascii'));
  return {
    oid: OID.ntdsCaSecurity,
    critical: false,
    value: sequence(contextConstructed(0, objectIdentifier(OID.ntdsObjectSid), contextConstructed(0, octetString(text)))),
  };
}

export function subjectKeyIdentifier(keyId: Uint8Array): Extension {
  return { oid: OID.subjectKeyIdentifier, critical: false, value: octetString(keyId) };
}

export function authorityKeyIdentifier(keyId: Uint8Array): Extension {
  return { oid: OID.authorityKeyIdentifier, critical: false, value: sequence(contextPrimitive(0, keyId)) };
}

/** GeneralName uniformResourceIdentifier ([6] IA5String). */
const uri = (url: string): Uint8Array => ia5String(url, 0x86);

/**
 * RFC 5280 4.2.1.13: one DistributionPoint per URL, each naming it as
 * distributionPoint [0] { fullName [0] { URI } }, no reasons or cRLIssuer
 * (the CA signs its own full CRL).
 */
export function crlDistributionPoints(urls: readonly string[]): Extension {
  if (urls.length === 0) throw new DerError('crlDistributionPoints needs at least one URL');
  return {
    oid: OID.crlDistributionPoints,
    critical: false,
    value: sequence(...urls.map((u) => sequence(contextConstructed(0, contextConstructed(0, uri(u)))))),
  };
}

/** RFC 5280 4.2.2.1: AccessDescriptions for OCSP (id-ad-ocsp) and the issuer's certificate (id-ad-caIssuers). */
export function authorityInfoAccess(urls: { ocsp?: string; caIssuers?: string }): Extension {
  const access: Uint8Array[] = [];
  if (urls.ocsp) access.push(sequence(objectIdentifier(OID.accessOcsp), uri(urls.ocsp)));
  if (urls.caIssuers) access.push(sequence(objectIdentifier(OID.accessCaIssuers), uri(urls.caIssuers)));
  if (access.length === 0) throw new DerError('authorityInfoAccess needs an OCSP or caIssuers URL');
  return { oid: OID.authorityInfoAccess, critical: false, value: sequence(...access) };
}

/** The subjectPublicKey BIT STRING contents (without the unused-bits byte) of a DER SPKI. */
export function publicKeyBits(spki: Uint8Array): Uint8Array {
  const top = readWhole(spki, 0x30);
  const parts = children(spki, top);
  if (parts.length !== 2 || parts[0]!.tag !== 0x30 || parts[1]!.tag !== 0x03) {
    throw new DerError('not a SubjectPublicKeyInfo');
  }
  const bits = content(spki, parts[1]!);
  if (bits.length < 2 || bits[0] !== 0) throw new DerError('bad subjectPublicKey BIT STRING');
  return bits.subarray(1);
}

/** RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
export function keyIdentifierFor(spki: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(publicKeyBits(spki)).digest());
}

export interface CertificateParams {
  serialNumber: string; // hex
  issuerName: Uint8Array; // Name DER, copied byte-for-byte from the issuer's subject
  subjectName: Uint8Array; // Name DER
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  extensions: readonly Extension[];
  hash: HashName;
  signer: PrivateKeyOps;
}

/** Builds the TBSCertificate, signs it with `signer` and returns the certificate DER. */
export async function buildCertificate(p: CertificateParams): Promise<Uint8Array> {
  const sigAlg = signatureAlgorithm(p.signer.algorithm, p.hash);
  const tbsParts: Uint8Array[] = [
    contextConstructed(0, integer(2)), // v3
    unsignedInteger(fromHex(p.serialNumber)),
    sigAlg,
    p.issuerName,
    sequence(time(p.notBefore), time(p.notAfter)),
    p.subjectName,
    p.spki,
  ];
  if (p.extensions.length > 0) tbsParts.push(contextConstructed(3, sequence(...p.extensions.map(encodeExtension))));
  const tbs = sequence(...tbsParts);
  const signature = await p.signer.sign(tbs, p.hash);
  return sequence(tbs, sigAlg, bitString(signature));
}
