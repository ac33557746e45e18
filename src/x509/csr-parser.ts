// PKCS#10 parsing: the CsrInfo (src/core/csr-info.ts) core decides on.
// Certificates are read by certificate-info.ts, which shares the DN and
// signature helpers exported here.
//
// Structure is read with the strict DER reader (./asn1/der-reader.ts):
// offsets into the request, exact slices for the signed
// certificationRequestInfo and the SPKI, no object tree. @peculiar's schema
// layer did this before and was an eighth of an enrollment's CPU (issue 13).
// Every element is walked once first against the same depth and element
// bounds as the BER readers (./asn1/limits.ts), so a crafted request costs no
// more than a real one. Unusual but well-formed content stays readable: an
// otherName other than UPN, a directoryName or a non-string RDN value become
// values the policy can refuse rather than parse failures. Signatures are
// verified with node:crypto.

import { constants, verify, type KeyObject } from 'node:crypto';
import { publicKeyFromSpki } from './spki-key.js';
import type { CsrInfo, CsrSan } from '../core/csr-info.js';
import { KEY_USAGES, type KeyUsageName, type RdnAttribute } from '../core/model.js';
import { toHex } from './asn1/bytes.js';
import { DerError } from './asn1/der-error.js';
import { children, content, decodeOid, decodeString, readTlv, readWhole, type Tlv } from './asn1/der-reader.js';
import { BER_PARSE_LIMITS } from './asn1/limits.js';
import { SCEP_LIMITS } from '../core/input-limits.js';
import { formatDn, shortNameForOid } from './names.js';

export class CsrParseError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CsrParseError';
  }
}

const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_MS_CERT_EXTENSIONS = '1.3.6.1.4.1.311.2.1.14'; // older Windows clients
const OID_CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';
const OID_SAN = '2.5.29.17';
const OID_KEY_USAGE = '2.5.29.15';
const OID_EKU = '2.5.29.37';
const OID_UPN = '1.3.6.1.4.1.311.20.2.3';

function fail(what: string, cause?: unknown): never {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  throw new CsrParseError(`${what}${detail}`, cause === undefined ? undefined : { cause });
}

// ---- bounds and structure ------------------------------------------------------------

/**
 * Walks every element of `buf` (constructed values recursively, string
 * contents not), as strict DER, within the depth and element bounds the BER
 * readers use. Shares `budget` so one request's pieces add up.
 */
function checkBounds(buf: Uint8Array, budget: { nodes: number }, start = 0, end = buf.length, depth = 0): void {
  for (let off = start; off < end; ) {
    if (++budget.nodes > BER_PARSE_LIMITS.maxNodes) throw new DerError('Maximum ASN.1 node count exceeded');
    if (depth > BER_PARSE_LIMITS.maxDepth) throw new DerError('Maximum ASN.1 nesting depth exceeded');
    const t = readTlv(buf, off, end);
    if (t.tag & 0x20) checkBounds(buf, budget, t.contentStart, t.end, depth + 1);
    off = t.end;
  }
}

/** The children of `parent`, which must carry `tag`. */
function childrenOf(buf: Uint8Array, parent: Tlv | undefined, tag: number, what: string): Tlv[] {
  if (!parent || parent.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}`);
  return children(buf, parent);
}

function oidAt(buf: Uint8Array, t: Tlv | undefined, what: string): string {
  if (!t || t.tag !== 0x06) throw new DerError(`${what}: expected an OBJECT IDENTIFIER`);
  return decodeOid(content(buf, t));
}

const slice = (buf: Uint8Array, t: Tlv): Uint8Array => buf.subarray(t.start, t.end);

// ---- names -----------------------------------------------------------------------

/** A string value, or `#hex` of the TLV when it is not a string our strict reader accepts (never a throw). */
function decodeStringTlv(tlvBytes: Uint8Array): string {
  try {
    const t = readWhole(tlvBytes);
    const s = decodeString(t.tag, content(tlvBytes, t));
    return s ?? `#${toHex(tlvBytes)}`;
  } catch {
    return `#${toHex(tlvBytes)}`;
  }
}

/** Name ::= SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue), flattened in encoding order. */
function nameToRdns(buf: Uint8Array, name: Tlv): RdnAttribute[] {
  const out: RdnAttribute[] = [];
  for (const rdn of childrenOf(buf, name, 0x30, 'Name')) {
    for (const atv of childrenOf(buf, rdn, 0x31, 'RelativeDistinguishedName')) {
      const [type, value, extra] = childrenOf(buf, atv, 0x30, 'AttributeTypeAndValue');
      if (!value || extra) throw new DerError('AttributeTypeAndValue: expected type and value');
      out.push({ type: shortNameForOid(oidAt(buf, type, 'AttributeType')), value: decodeStringTlv(slice(buf, value)) });
    }
  }
  return out;
}

/** RDN attributes of a DER Name, in encoding order, multi-valued RDNs flattened. */
export function parseDnDer(der: Uint8Array): RdnAttribute[] {
  try {
    const top = readWhole(der, 0x30);
    checkBounds(der, { nodes: 0 });
    return nameToRdns(der, top);
  } catch (e) {
    return fail('malformed distinguished name', e);
  }
}

// ---- extensions ------------------------------------------------------------------

const latin1 = new TextDecoder('latin1');

/**
 * An iPAddress SAN as text: dotted IPv4, or IPv6 with the longest run of two
 * or more zero groups shortened to "::" (as @peculiar/x509 printed them, so
 * stored values and profile comparisons are unchanged). Any other length is
 * not an address: `#hex`, a value no policy expects.
 */
function ipText(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  if (b.length !== 16) return `#${toHex(b)}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** One GeneralName (RFC 5280 4.2.1.6); IA5 values read byte for byte, as @peculiar's reader did. */
function generalNameToSan(buf: Uint8Array, gn: Tlv): CsrSan {
  switch (gn.tag) {
    case 0xa0: {
      const [typeId, explicit, extra] = children(buf, gn);
      const [value] = childrenOf(buf, explicit, 0xa0, 'otherName value');
      if (!value || extra) throw new DerError('otherName: expected type-id and value');
      const oid = oidAt(buf, typeId, 'otherName type-id');
      const bytes = slice(buf, value);
      if (oid === OID_UPN) return { type: 'upn', value: decodeStringTlv(bytes) };
      return { type: 'other', value: `otherName:${oid}:${toHex(bytes)}` };
    }
    case 0x81:
      return { type: 'email', value: latin1.decode(content(buf, gn)) };
    case 0x82:
      return { type: 'dns', value: latin1.decode(content(buf, gn)) };
    case 0xa3:
      return { type: 'other', value: 'x400Address' };
    case 0xa4: {
      const [name, extra] = children(buf, gn);
      if (!name || extra) throw new DerError('directoryName: expected one Name');
      return { type: 'other', value: `dirName:${formatDn(nameToRdns(buf, name))}` };
    }
    case 0xa5:
      return { type: 'other', value: 'ediPartyName' };
    case 0x86:
      return { type: 'uri', value: latin1.decode(content(buf, gn)) };
    case 0x87:
      return { type: 'ip', value: ipText(content(buf, gn)) };
    case 0x88:
      return { type: 'other', value: `registeredID:${decodeOid(content(buf, gn))}` };
    default:
      throw new DerError(`unknown GeneralName tag 0x${gn.tag.toString(16)}`);
  }
}

function decodeSan(value: Uint8Array): CsrSan[] {
  const top = readWhole(value, 0x30);
  return children(value, top).map((gn) => generalNameToSan(value, gn));
}

function decodeEku(value: Uint8Array): string[] {
  const top = readWhole(value, 0x30);
  return children(value, top).map((t) => oidAt(value, t, 'KeyPurposeId'));
}

function decodeKeyUsage(value: Uint8Array): KeyUsageName[] {
  const t = readWhole(value, 0x03);
  const c = content(value, t);
  if (c.length === 0 || c[0]! > 7) throw new CsrParseError('malformed keyUsage BIT STRING');
  const bits = c.subarray(1);
  const out: KeyUsageName[] = [];
  KEY_USAGES.forEach((name, i) => {
    const byte = bits[i >> 3];
    if (byte !== undefined && byte & (0x80 >> (i & 7))) out.push(name);
  });
  return out;
}

interface RequestedExtensions {
  san: CsrSan[];
  keyUsage: KeyUsageName[] | null;
  eku: string[] | null;
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
function readExtension(buf: Uint8Array, ext: Tlv): { id: string; value: Uint8Array } {
  const parts = childrenOf(buf, ext, 0x30, 'Extension');
  const id = oidAt(buf, parts[0], 'extnID');
  const critical = parts.length === 3 ? parts[1] : undefined;
  const value = parts[parts.length - 1];
  if (parts.length < 2 || parts.length > 3 || (critical && critical.tag !== 0x01) || value?.tag !== 0x04) {
    throw new DerError('malformed Extension');
  }
  return { id, value: content(buf, value) };
}

function decodeExtensions(buf: Uint8Array, exts: Tlv, budget: { nodes: number }): RequestedExtensions {
  let list: { id: string; value: Uint8Array }[];
  try {
    list = childrenOf(buf, exts, 0x30, 'Extensions').map((e) => readExtension(buf, e));
  } catch (e) {
    return fail('malformed extensionRequest', e);
  }
  const seen = new Set<string>();
  const result: RequestedExtensions = { san: [], keyUsage: null, eku: null };
  for (const ext of list) {
    if (seen.has(ext.id)) fail(`duplicate extension ${ext.id} in the request`);
    seen.add(ext.id);
    try {
      if (ext.id === OID_SAN || ext.id === OID_EKU || ext.id === OID_KEY_USAGE) checkBounds(ext.value, budget);
      if (ext.id === OID_SAN) result.san = decodeSan(ext.value);
      else if (ext.id === OID_KEY_USAGE) result.keyUsage = decodeKeyUsage(ext.value);
      else if (ext.id === OID_EKU) result.eku = decodeEku(ext.value);
    } catch (e) {
      fail(`malformed extension ${ext.id}`, e);
    }
  }
  return result;
}

// ---- keys and signatures ------------------------------------------------------------

/**
 * NIST curves only: the policy's EC rules (P-256, P-384) are about these.
 * Other curves (secp256k1, brainpool) report 0 bits, so no check can mistake
 * them for a NIST curve of the same size.
 */
const CURVE_BITS: Readonly<Record<string, number>> = {
  prime256v1: 256,
  'P-256': 256,
  secp384r1: 384,
  'P-384': 384,
  secp521r1: 521,
  'P-521': 521,
};

function describeKey(spki: Uint8Array): { key: KeyObject | null; algorithm: CsrInfo['publicKey']['algorithm']; bits: number } {
  let key: KeyObject;
  try {
    key = publicKeyFromSpki(spki); // RSA without OpenSSL's slow DER decoder (spki-key.ts)
  } catch {
    return { key: null, algorithm: 'other', bits: 0 };
  }
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return { key, algorithm: 'RSA', bits: d.modulusLength ?? 0 };
    case 'ec':
      return { key, algorithm: 'EC', bits: CURVE_BITS[d.namedCurve ?? ''] ?? 0 };
    case 'ed25519':
      return { key, algorithm: 'Ed25519', bits: 256 };
    default:
      return { key, algorithm: 'other', bits: 0 };
  }
}

const HASH_OIDS: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

type SigScheme =
  | { kind: 'pkcs1' | 'ecdsa'; hash: string }
  | { kind: 'pss'; hash: string; saltLength: number }
  | { kind: 'eddsa' };

const SIG_OIDS: Readonly<Record<string, SigScheme>> = {
  '1.2.840.113549.1.1.5': { kind: 'pkcs1', hash: 'sha1' },
  '1.2.840.113549.1.1.14': { kind: 'pkcs1', hash: 'sha224' },
  '1.2.840.113549.1.1.11': { kind: 'pkcs1', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { kind: 'pkcs1', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { kind: 'pkcs1', hash: 'sha512' },
  '1.2.840.10045.4.1': { kind: 'ecdsa', hash: 'sha1' },
  '1.2.840.10045.4.3.1': { kind: 'ecdsa', hash: 'sha224' },
  '1.2.840.10045.4.3.2': { kind: 'ecdsa', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { kind: 'ecdsa', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { kind: 'ecdsa', hash: 'sha512' },
  '1.3.101.112': { kind: 'eddsa' },
};
const OID_RSASSA_PSS = '1.2.840.113549.1.1.10';
const OID_MGF1 = '1.2.840.113549.1.1.8';

/** AlgorithmIdentifier (OID + raw parameters TLV) -> hash OID name. */
function hashOfAlgId(buf: Uint8Array): string | undefined {
  const t = readWhole(buf, 0x30);
  const [o] = children(buf, t);
  if (!o || o.tag !== 0x06) return undefined;
  return HASH_OIDS[decodeOid(content(buf, o))];
}

/** RSASSA-PSS-params (RFC 4055); MGF1 must use the message hash (node:crypto's constraint). */
function pssScheme(params: Uint8Array | null): SigScheme | null {
  let hash = 'sha1';
  let mgfHash = 'sha1';
  let saltLength = 20;
  if (params) {
    const top = readWhole(params, 0x30);
    for (const f of children(params, top)) {
      const [inner] = children(params, f);
      if (!inner) return null;
      const innerBytes = params.subarray(inner.start, inner.end);
      if (f.tag === 0xa0) {
        const h = hashOfAlgId(innerBytes);
        if (!h) return null;
        hash = h;
      } else if (f.tag === 0xa1) {
        const [mo, mp] = children(innerBytes, readWhole(innerBytes, 0x30));
        if (!mo || decodeOid(content(innerBytes, mo)) !== OID_MGF1 || !mp) return null;
        const h = hashOfAlgId(innerBytes.subarray(mp.start, mp.end));
        if (!h) return null;
        mgfHash = h;
      } else if (f.tag === 0xa2) {
        const c = content(params, inner);
        saltLength = c.reduce((acc, b) => acc * 256 + b, 0);
      }
    }
  }
  if (hash !== mgfHash) return null;
  return { kind: 'pss', hash, saltLength };
}

/** Verifies `signature` over `data`; false for any mismatch, unsupported algorithm or malformed input. */
export function verifySignature(
  algOid: string,
  params: Uint8Array | null,
  data: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
): boolean {
  try {
    const scheme = algOid === OID_RSASSA_PSS ? pssScheme(params) : SIG_OIDS[algOid];
    if (!scheme) return false;
    const type = key.asymmetricKeyType;
    switch (scheme.kind) {
      case 'pkcs1':
        if (type !== 'rsa') return false;
        return verify(scheme.hash, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      case 'pss':
        if (type !== 'rsa' && type !== 'rsa-pss') return false;
        return verify(
          scheme.hash,
          data,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength },
          signature,
        );
      case 'ecdsa':
        if (type !== 'ec') return false;
        return verify(scheme.hash, data, { key, dsaEncoding: 'der' }, signature);
      case 'eddsa':
        if (type !== 'ed25519') return false;
        return verify(null, data, key, signature);
    }
  } catch {
    return false;
  }
}

// ---- CSR ---------------------------------------------------------------------------

interface CsrParts {
  info: Uint8Array;
  subject: RdnAttribute[];
  spki: Uint8Array;
  /** Attribute type and first value (TLV), in encoding order; attributes without values are skipped. */
  attributes: { type: string; first: Tlv }[];
  sigAlg: string;
  sigParams: Uint8Array | null;
  signature: Uint8Array;
}

/**
 * CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
 * CertificationRequestInfo ::= SEQUENCE { version INTEGER, subject Name, subjectPKInfo, attributes [0] }
 */
function readCsrParts(der: Uint8Array, budget: { nodes: number }): CsrParts {
  const top = readWhole(der, 0x30);
  checkBounds(der, budget);
  const [infoT, algT, sigT, extra] = children(der, top);
  if (!infoT || !algT || !sigT || extra) throw new DerError('expected info, algorithm and signature');
  const [version, subject, spki, attrs, more] = childrenOf(der, infoT, 0x30, 'CertificationRequestInfo');
  if (version?.tag !== 0x02 || !subject || spki?.tag !== 0x30 || (attrs && attrs.tag !== 0xa0) || more) {
    throw new DerError('malformed CertificationRequestInfo');
  }
  const spkiParts = children(der, spki);
  if (spkiParts.length !== 2 || spkiParts[0]!.tag !== 0x30 || spkiParts[1]!.tag !== 0x03) throw new DerError('malformed SubjectPublicKeyInfo');
  const attributes: CsrParts['attributes'] = [];
  for (const a of attrs ? children(der, attrs) : []) {
    const [type, values, rest] = childrenOf(der, a, 0x30, 'Attribute');
    if (rest) throw new DerError('malformed Attribute');
    const first = childrenOf(der, values, 0x31, 'Attribute values')[0];
    const oid = oidAt(der, type, 'Attribute type');
    if (first) attributes.push({ type: oid, first });
  }
  const [algOid, params, more2] = childrenOf(der, algT, 0x30, 'signatureAlgorithm');
  if (more2) throw new DerError('malformed signatureAlgorithm');
  if (sigT.tag !== 0x03) throw new DerError('signature: expected a BIT STRING');
  const sig = content(der, sigT);
  if (sig.length === 0 || sig[0] !== 0) throw new DerError('signature: unused bits');
  return {
    info: slice(der, infoT),
    subject: nameToRdns(der, subject),
    spki: slice(der, spki),
    attributes,
    sigAlg: oidAt(der, algOid, 'signatureAlgorithm'),
    sigParams: params ? slice(der, params) : null,
    signature: sig.subarray(1),
  };
}

/** Parses a DER PKCS#10 request. Throws CsrParseError for malformed or oversized DER; a bad self-signature is reported, not thrown. */
export async function parseCsr(der: Uint8Array): Promise<CsrInfo> {
  if (der.length > SCEP_LIMITS.maxCsrBytes) fail(`PKCS#10 request larger than ${SCEP_LIMITS.maxCsrBytes} bytes`);
  const budget = { nodes: 0 };
  let req: CsrParts;
  try {
    req = readCsrParts(der, budget);
  } catch (e) {
    return fail('malformed PKCS#10 request', e);
  }

  let challengePassword: string | null = null;
  let requested: RequestedExtensions = { san: [], keyUsage: null, eku: null };
  let sawExtensions = false;
  for (const attr of req.attributes) {
    if (attr.type === OID_CHALLENGE_PASSWORD && challengePassword === null) {
      challengePassword = decodeStringTlv(slice(der, attr.first));
    } else if ((attr.type === OID_EXTENSION_REQUEST || attr.type === OID_MS_CERT_EXTENSIONS) && !sawExtensions) {
      sawExtensions = true;
      requested = decodeExtensions(der, attr.first, budget);
    }
  }

  const { key, algorithm, bits } = describeKey(req.spki);
  const signatureValid = key !== null && verifySignature(req.sigAlg, req.sigParams, req.info, req.signature, key);

  return {
    der,
    subject: req.subject,
    subjectAltNames: requested.san,
    keyUsage: requested.keyUsage,
    extendedKeyUsages: requested.eku,
    publicKey: { algorithm, bits, spki: req.spki },
    challengePassword,
    signatureValid,
  };
}
