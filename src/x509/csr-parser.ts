// PKCS#10 parsing: the CsrInfo (src/core/csr-info.ts) core decides on.
// Certificates are read by certificate-info.ts, which shares the DN and
// signature helpers exported here.
//
// Structure is decoded with @peculiar's ASN.1 schema layer (the parser behind
// @peculiar/x509: asn1-schema / asn1-x509 / asn1-csr). The higher-level
// @peculiar/x509 classes are not used here on purpose: they do not expose RDN
// order and string types, and their GeneralName class throws on otherNames
// other than UPN/GUID, which would turn a merely unusual CSR into a parse
// failure instead of a SAN the policy can refuse. Signatures are verified
// with node:crypto.

import { constants, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import {
  ExtendedKeyUsage,
  Extensions,
  GeneralNames,
  Name,
  type AttributeValue,
  type GeneralName,
} from '@peculiar/asn1-x509';
import type { CsrInfo, CsrSan } from '../core/csr-info.js';
import { KEY_USAGES, type KeyUsageName, type RdnAttribute } from '../core/model.js';
import { toHex } from './asn1/bytes.js';
import { children, content, decodeOid, decodeString, readWhole } from './asn1/der-reader.js';
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

/** asn1js stops at these bounds while reading (asn1/limits.ts), before a tree the size of the input exists. */
const LIMITED = { berOptions: BER_PARSE_LIMITS };

const bytesOf = (ab: ArrayBuffer | ArrayBufferView): Uint8Array =>
  ab instanceof ArrayBuffer ? new Uint8Array(ab) : new Uint8Array(ab.buffer, ab.byteOffset, ab.byteLength);

function fail(what: string, cause?: unknown): never {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  throw new CsrParseError(`${what}${detail}`, cause === undefined ? undefined : { cause });
}

// ---- names -----------------------------------------------------------------------

/** A DER string element (TLV bytes) as text; non-string values as RFC 4514 `#hex`. */
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

function attributeValueText(v: AttributeValue): string {
  if (v.anyValue) return decodeStringTlv(bytesOf(v.anyValue));
  const s = v.utf8String ?? v.printableString ?? v.ia5String ?? v.teletexString ?? v.bmpString ?? v.universalString;
  return s ?? '';
}

function nameToRdns(name: Name): RdnAttribute[] {
  const out: RdnAttribute[] = [];
  for (const rdn of name) {
    for (const atv of rdn) out.push({ type: shortNameForOid(atv.type), value: attributeValueText(atv.value) });
  }
  return out;
}

/** RDN attributes of a DER Name, in encoding order, multi-valued RDNs flattened. */
export function parseDnDer(der: Uint8Array): RdnAttribute[] {
  try {
    readWhole(der, 0x30);
    return nameToRdns(AsnConvert.parse(der, Name, LIMITED));
  } catch (e) {
    return fail('malformed distinguished name', e);
  }
}

// ---- extensions ------------------------------------------------------------------

function generalNameToSan(gn: GeneralName): CsrSan {
  if (gn.rfc822Name !== undefined) return { type: 'email', value: gn.rfc822Name };
  if (gn.dNSName !== undefined) return { type: 'dns', value: gn.dNSName };
  if (gn.uniformResourceIdentifier !== undefined) return { type: 'uri', value: gn.uniformResourceIdentifier };
  if (gn.iPAddress !== undefined) return { type: 'ip', value: gn.iPAddress };
  if (gn.otherName) {
    const value = bytesOf(gn.otherName.value);
    if (gn.otherName.typeId === OID_UPN) return { type: 'upn', value: decodeStringTlv(value) };
    return { type: 'other', value: `otherName:${gn.otherName.typeId}:${toHex(value)}` };
  }
  if (gn.directoryName) return { type: 'other', value: `dirName:${formatDn(nameToRdns(gn.directoryName))}` };
  if (gn.registeredID !== undefined) return { type: 'other', value: `registeredID:${gn.registeredID}` };
  if (gn.x400Address) return { type: 'other', value: 'x400Address' };
  return { type: 'other', value: 'ediPartyName' };
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

function decodeExtensions(exts: Extensions): RequestedExtensions {
  const seen = new Set<string>();
  const result: RequestedExtensions = { san: [], keyUsage: null, eku: null };
  for (const ext of exts) {
    if (seen.has(ext.extnID)) fail(`duplicate extension ${ext.extnID} in the request`);
    seen.add(ext.extnID);
    const value = bytesOf(ext.extnValue.buffer);
    try {
      if (ext.extnID === OID_SAN) result.san = AsnConvert.parse(value, GeneralNames, LIMITED).map(generalNameToSan);
      else if (ext.extnID === OID_KEY_USAGE) result.keyUsage = decodeKeyUsage(value);
      else if (ext.extnID === OID_EKU) result.eku = [...AsnConvert.parse(value, ExtendedKeyUsage, LIMITED)];
    } catch (e) {
      fail(`malformed extension ${ext.extnID}`, e);
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
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
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

/** Parses a DER PKCS#10 request. Throws CsrParseError for malformed or oversized DER; a bad self-signature is reported, not thrown. */
export async function parseCsr(der: Uint8Array): Promise<CsrInfo> {
  if (der.length > SCEP_LIMITS.maxCsrBytes) fail(`PKCS#10 request larger than ${SCEP_LIMITS.maxCsrBytes} bytes`);
  let req: CertificationRequest;
  try {
    readWhole(der, 0x30);
    req = AsnConvert.parse(der, CertificationRequest, LIMITED);
  } catch (e) {
    return fail('malformed PKCS#10 request', e);
  }
  const info = req.certificationRequestInfo;
  if (!info || !req.certificationRequestInfoRaw || !info.subjectPKInfo) fail('malformed PKCS#10 request');

  const subject = nameToRdns(info.subject);
  const spki = new Uint8Array(AsnConvert.serialize(info.subjectPKInfo));

  let challengePassword: string | null = null;
  let requested: RequestedExtensions = { san: [], keyUsage: null, eku: null };
  let sawExtensions = false;
  for (const attr of info.attributes ?? []) {
    const first = attr.values[0];
    if (!first) continue;
    if (attr.type === OID_CHALLENGE_PASSWORD && challengePassword === null) {
      try {
        challengePassword = decodeStringTlv(bytesOf(first));
      } catch (e) {
        fail('malformed challengePassword', e);
      }
    } else if ((attr.type === OID_EXTENSION_REQUEST || attr.type === OID_MS_CERT_EXTENSIONS) && !sawExtensions) {
      sawExtensions = true;
      let exts: Extensions;
      try {
        exts = AsnConvert.parse(first, Extensions, LIMITED);
      } catch (e) {
        return fail('malformed extensionRequest', e);
      }
      requested = decodeExtensions(exts);
    }
  }

  const { key, algorithm, bits } = describeKey(spki);
  const sigAlg = req.signatureAlgorithm;
  const params = sigAlg.parameters ? bytesOf(sigAlg.parameters) : null;
  const signatureValid =
    key !== null &&
    verifySignature(sigAlg.algorithm, params, bytesOf(req.certificationRequestInfoRaw), bytesOf(req.signature), key);

  return {
    der,
    subject,
    subjectAltNames: requested.san,
    keyUsage: requested.keyUsage,
    extendedKeyUsages: requested.eku,
    publicKey: { algorithm, bits, spki },
    challengePassword,
    signatureValid,
  };
}
