import { createHash, createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { BER_PARSE_LIMITS } from './asn1/limits.js';
import { BerWalker, type BerTlv } from './asn1/ber-walk.js';
import { decodeOid } from './asn1/der-reader.js';
import { readCertificate, subjectKeyIdentifierOf } from './cert-raw.js';
import { LruCache } from './lru-cache.js';

// The gateway's one verification of a detached CMS SignedData (RFC 5652):
// one signer, its certificate included, signed attributes optional (when
// present, messageDigest must match the content and contentType be id-data).
// Apple's Mdm-Signature header is one (SignMessage true in the enrollment
// profile); adapters reach it as AdapterServices.verifyDetachedSignature.
// This only proves "this content was signed by the key of this certificate";
// whether the certificate is one of our device identities is the caller's
// question (services.verifyDeviceCertificate). The SCEP codec's reader
// (scep/codec/signed-data.ts) cannot serve here: SCEP requires signed
// attributes and attached content, a detached signature may have neither.
// It runs on every Apple check-in, so it walks the BER itself (asn1/ber-walk.ts)
// and keeps the parsed signer certificates (bounded, by DER hash) instead of
// building asn1js/pkijs objects and a public key per message (issue 13).

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const OID_DATA = '1.2.840.113549.1.7.1';

const DIGESTS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
/** Signature algorithms we verify: RSA PKCS#1 v1.5 (bare or with a hash) and ECDSA. RSA-PSS is refused. */
const SIGNATURES = new Set([
  '1.2.840.113549.1.1.1',
  '1.2.840.113549.1.1.5',
  '1.2.840.113549.1.1.11',
  '1.2.840.113549.1.1.12',
  '1.2.840.113549.1.1.13',
  '1.2.840.10045.4.3.2',
  '1.2.840.10045.4.3.3',
  '1.2.840.10045.4.3.4',
]);

export type SignatureCheck = { ok: true; signerCertificate: Uint8Array } | { ok: false; reason: string };

const fail = (reason: string): SignatureCheck => ({ ok: false, reason });

/** What a signature check needs from a certificate; null when the bytes are not a certificate we can read. */
interface SignerCandidate {
  publicKey: KeyObject;
  issuerName: Buffer;
  serial: Buffer;
  subjectKeyId: Buffer | null;
}

/** Devices sign with the same identity for months: its parsed form is kept, bounded (about 1 KiB each). */
export const SIGNER_CACHE_ENTRIES = 4096;
const signerCache = new LruCache<string, SignerCandidate | null>(SIGNER_CACHE_ENTRIES);

/**
 * Signatures that verified, by a hash of exactly the signature and the content
 * they cover. The answer is a pure function of those bytes (no clock, no
 * database: whether the signer is still a device of ours is the caller's
 * question, asked every time), and a device repeats the same message with the
 * same signature (an Apple Idle): a hit skips the BER walk and the public-key
 * operation (issue 13). Only successes are kept, so refused input cannot evict
 * a device's entry; bounded (about 1.2 KiB each: the signer certificate).
 */
export const VERIFIED_SIGNATURE_ENTRIES = 4096;
const verified = new LruCache<string, SignatureCheck>(VERIFIED_SIGNATURE_ENTRIES);

/** The memo key: SHA-256 over the signature's length, the signature, then the content (no two pairs share it). */
function verifiedKey(base64: string, body: Uint8Array): string {
  return createHash('sha256').update(`${base64.length}:`).update(base64).update(body).digest('base64');
}

/**
 * Verifies a base64 detached SignedData over `body`. `label` names the
 * signature in the reasons (e.g. `Mdm-Signature`). Total: any malformed input
 * is a failure result, never an exception.
 */
export function verifyDetachedSignature(base64: string, body: Uint8Array, label = 'the signature'): SignatureCheck {
  const key = verifiedKey(base64, body);
  const known = verified.get(key);
  if (known) return known;
  let result: SignatureCheck;
  try {
    result = check(base64, body, label);
  } catch (e) {
    return fail(`${label} is malformed: ${(e as Error).message}`);
  }
  if (result.ok) verified.set(key, result);
  return result;
}

interface SignerInfoParts {
  sid: BerTlv;
  digestOid: string;
  signatureOid: string;
  signedAttrs: BerTlv | null;
  signature: Uint8Array;
}

/** The parts of ContentInfo { signedData, [0] SignedData } this check reads, by offsets into `w.buf`. */
function parseSignedData(w: BerWalker, label: string): { certificates: Uint8Array[]; signers: BerTlv[]; detached: boolean } | string {
  const ci = w.top();
  if (ci.tag !== 0x30) return `${label} is not a CMS ContentInfo`;
  const [typeT, wrapT] = w.children(ci, 0);
  if (!typeT || typeT.tag !== 0x06 || decodeOid(w.content(typeT)) !== OID_SIGNED_DATA) return `${label} is not a CMS SignedData`;
  if (!wrapT || wrapT.tag !== 0xa0) return `${label} has no SignedData content`;
  const [sdT] = w.children(wrapT, 1);
  if (!sdT || sdT.tag !== 0x30) return `${label} has no SignedData content`;
  const parts = w.children(sdT, 2);
  let i = 0;
  const next = (tag: number) => (parts[i]?.tag === tag ? parts[i++]! : null);
  if (!next(0x02) || !next(0x31)) return `${label} does not parse: malformed SignedData version or digestAlgorithms`;
  const encap = next(0x30);
  if (!encap) return `${label} does not parse: no encapContentInfo`;
  const certsT = next(0xa0);
  next(0xa1); // crls: not used
  const signerInfosT = next(0x31);
  if (!signerInfosT || i !== parts.length) return `${label} does not parse: malformed SignedData`;
  const encapParts = w.children(encap, 3);
  // The certificates exactly as the device sent them (so their hash matches our issuance record).
  const certificates = certsT ? w.children(certsT, 3).filter((c) => c.tag === 0x30).map((c) => w.raw(c)) : [];
  return { certificates, signers: w.children(signerInfosT, 3), detached: encapParts.length < 2 };
}

/** SignerInfo { version, sid, digestAlgorithm, [0] signedAttrs?, signatureAlgorithm, signature, [1] unsignedAttrs? }. */
function parseSignerInfo(w: BerWalker, si: BerTlv): SignerInfoParts | string {
  const parts = si.tag === 0x30 ? w.children(si, 4) : [];
  const [version, sid, digestAlg] = parts;
  if (!version || version.tag !== 0x02 || !sid || !digestAlg || digestAlg.tag !== 0x30) return 'malformed SignerInfo';
  let i = 3;
  const signedAttrs = parts[i]?.tag === 0xa0 ? parts[i++]! : null;
  const sigAlg = parts[i++];
  const signature = parts[i++];
  if (!sigAlg || sigAlg.tag !== 0x30 || !signature || signature.tag !== 0x04) return 'malformed SignerInfo';
  return { sid, digestOid: algorithmOid(w, digestAlg), signatureOid: algorithmOid(w, sigAlg), signedAttrs, signature: w.content(signature) };
}

function algorithmOid(w: BerWalker, alg: BerTlv): string {
  const [oid] = w.children(alg, 5);
  if (!oid || oid.tag !== 0x06) throw new Error('malformed AlgorithmIdentifier');
  return decodeOid(w.content(oid));
}

function check(headerValue: string, body: Uint8Array, label: string): SignatureCheck {
  const b64 = headerValue.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return fail(`${label} is not base64`);
  const der = Buffer.from(b64, 'base64');
  if (der.length > BER_PARSE_LIMITS.maxContentLength) return fail(`${label} is larger than ${BER_PARSE_LIMITS.maxContentLength} bytes`);
  const w = new BerWalker(der, BER_PARSE_LIMITS);
  let sd: ReturnType<typeof parseSignedData>;
  try {
    sd = parseSignedData(w, label);
  } catch (e) {
    return fail(`${label} does not parse: ${(e as Error).message}`);
  }
  if (typeof sd === 'string') return fail(sd);
  if (!sd.detached) return fail(`${label} must be detached (content absent)`);
  if (sd.signers.length !== 1) return fail(`${label} must have exactly one signer`);
  const si = parseSignerInfo(w, sd.signers[0]!);
  if (typeof si === 'string') return fail(`${label} does not parse: ${si}`);
  const digest = DIGESTS[si.digestOid];
  if (!digest) return fail(`unsupported digest ${si.digestOid}`);
  if (!SIGNATURES.has(si.signatureOid)) return fail(`unsupported signature algorithm ${si.signatureOid}`);

  const signer = findSigner(w, si.sid, sd.certificates);
  if (!signer) return fail('the signer certificate is not in the SignedData');

  let signed: Uint8Array;
  if (si.signedAttrs) {
    const attrs = signedAttributes(w, si.signedAttrs);
    const md = attrs.filter((a) => a.type === OID_MESSAGE_DIGEST);
    if (md.length !== 1 || md[0]!.values.length !== 1) return fail('signed attributes need exactly one messageDigest');
    const ct = attrs.find((a) => a.type === OID_CONTENT_TYPE);
    const ctValue = ct?.values[0];
    if (ct && !(ctValue && ctValue.tag === 0x06 && decodeOid(w.content(ctValue)) === OID_DATA)) return fail('signed contentType is not id-data');
    const mdValue = md[0]!.values[0]!;
    if (mdValue.tag !== 0x04) return fail('the messageDigest attribute is not an OCTET STRING');
    const claimed = Buffer.from(w.content(mdValue));
    const actual = createHash(digest).update(body).digest();
    if (claimed.length !== actual.length || !timingSafeEqual(claimed, actual)) return fail('the body does not match the signed message digest');
    // RFC 5652 5.4: the signature covers the attributes with their SET OF tag, not the [0] IMPLICIT one.
    signed = Buffer.from(w.raw(si.signedAttrs));
    signed[0] = 0x31;
  } else {
    signed = body;
  }
  const ok = (() => {
    try {
      return verify(digest, signed, signer.candidate.publicKey, si.signature);
    } catch {
      return false;
    }
  })();
  if (!ok) return fail(`the ${label} signature does not verify`);
  return { ok: true, signerCertificate: new Uint8Array(signer.der) };
}

/** Attribute { type OID, values SET } of a [0] signedAttrs. */
function signedAttributes(w: BerWalker, attrs: BerTlv): { type: string; values: BerTlv[] }[] {
  return w.children(attrs, 5).map((a) => {
    const [type, values] = a.tag === 0x30 ? w.children(a, 6) : [];
    if (!type || type.tag !== 0x06 || !values || values.tag !== 0x31) throw new Error('malformed signed attribute');
    return { type: decodeOid(w.content(type)), values: w.children(values, 7) };
  });
}

/** The candidate for a certificate's bytes: parsed once per distinct certificate, then from the cache. */
function candidateFor(der: Uint8Array): SignerCandidate | null {
  const key = createHash('sha256').update(der).digest('base64');
  return signerCache.getOrSet(key, () => {
    try {
      const c = readCertificate(der);
      const ski = subjectKeyIdentifierOf(c);
      return {
        publicKey: createPublicKey({ key: Buffer.from(c.spki), format: 'der', type: 'spki' }),
        issuerName: Buffer.from(c.issuerName),
        serial: Buffer.from(c.serial),
        subjectKeyId: ski ? Buffer.from(ski) : null,
      };
    } catch {
      return null;
    }
  });
}

/**
 * The included certificate the signer identifier names: IssuerAndSerialNumber
 * (issuer Name and serial compared byte for byte, as the signer copied them
 * from its certificate) or [0] subjectKeyIdentifier.
 */
function findSigner(w: BerWalker, sid: BerTlv, certs: Uint8Array[]): { der: Uint8Array; candidate: SignerCandidate } | null {
  let match: (c: SignerCandidate) => boolean;
  if (sid.tag === 0x30) {
    const [issuer, serial] = w.children(sid, 5);
    if (!issuer || issuer.tag !== 0x30 || !serial || serial.tag !== 0x02) return null;
    const issuerRaw = w.raw(issuer);
    const serialRaw = w.content(serial);
    match = (c) => c.issuerName.equals(issuerRaw) && c.serial.equals(serialRaw);
  } else if (sid.tag === 0x80) {
    // subjectKeyIdentifier [0] IMPLICIT OCTET STRING (primitive only; a constructed [0] names nothing).
    const wanted = w.content(sid);
    match = (c) => c.subjectKeyId !== null && c.subjectKeyId.equals(wanted);
  } else {
    return null;
  }
  for (const der of certs) {
    const candidate = candidateFor(der);
    if (candidate && match(candidate)) return { der, candidate };
  }
  return null;
}
