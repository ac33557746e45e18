// The one DER writer, used by the SCEP codec (CMS SignedData/EnvelopedData,
// SCEP attributes) and the built-in CA (TBSCertificate, names, extensions).
//
// Hand-written on purpose, not asn1js/pkijs/@peculiar:
//  - exact bytes: signatures are computed over what we emit, and OpenSSL and
//    strict clients re-encode and compare; pkijs' writer, for instance,
//    re-chunks eContent into a constructed (BER) OCTET STRING, and asn1js
//    writes GeneralizedTime with fractional seconds and accepts malformed OIDs
//    ("1.2.abc" encodes as 1.2) without complaint.
//  - speed: the CA's issuance budget is 2 ms, most of it the RSA signature.
//    Building the same TBSCertificate (names, six extensions) from asn1js
//    objects measured ~1.4 ms, with these functions ~0.05 ms in the same run
//    (~0.02 ms on a quiet machine). test/ca/authority.test.ts keeps an eye on it.
// Every function returns one complete TLV as bytes; composing is concatenation.
// Reading lives elsewhere: ./der-reader.ts (strict DER, exact slices) and
// ../codec/ber-reader.ts (lenient BER from SCEP peers, via asn1js).

import { concat } from './bytes.js';
import { DerError } from './der-error.js';

export { DerError };

/** Octets of a DER length (X.690 8.1.3): the short form below 128, else 0x8n and n big-endian octets. */
function lengthOctets(len: number): number {
  if (len < 0x80) return 1;
  if (len < 0x100) return 2;
  if (len < 0x10000) return 3;
  if (len < 0x1000000) return 4;
  if (len <= 0xffffffff) return 5;
  throw new DerError(`a DER length of ${len} octets is beyond what this writer encodes`);
}

/**
 * One TLV with a single-byte tag (every tag we write is < 31). The header and
 * every content part are written straight into the one output array: no
 * joined body copied a second time, no length array per element (the CA's
 * and the CertRep's hot path, issue 13; test/x509/der-writer.test.ts holds it
 * byte for byte to the joining writer it replaced).
 */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const c of content) len += c.length;
  const n = lengthOctets(len);
  const out = new Uint8Array(1 + n + len);
  out[0] = tag;
  if (n === 1) out[1] = len;
  else {
    out[1] = 0x80 | (n - 1);
    for (let i = n, v = len; i > 1; i--, v = Math.floor(v / 256)) out[i] = v & 0xff;
  }
  let off = 1 + n;
  for (const c of content) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

export const sequence = (...items: Uint8Array[]): Uint8Array => tlv(0x30, ...items);

/** SET OF in DER order: elements sorted as octet strings (X.690 11.6). */
export const setOf = (items: readonly Uint8Array[]): Uint8Array => tlv(0x31, ...sortDer(items));

export function sortDer(items: readonly Uint8Array[]): Uint8Array[] {
  return items.length < 2 ? [...items] : [...items].sort(compareDer);
}

function compareDer(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  // The shorter one counts as padded with trailing zero octets.
  return a.length - b.length;
}

/** [n] EXPLICIT, or [n] IMPLICIT on a constructed type. */
export const contextConstructed = (n: number, ...content: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...content);
/** [n] IMPLICIT on a primitive type (content octets given). */
export const contextPrimitive = (n: number, content: Uint8Array): Uint8Array => tlv(0x80 | n, content);

export const octetString = (bytes: Uint8Array): Uint8Array => tlv(0x04, bytes);
export const nullValue = (): Uint8Array => Uint8Array.of(0x05, 0x00);
export const bool = (v: boolean): Uint8Array => Uint8Array.of(0x01, 0x01, v ? 0xff : 0x00);

export function bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  return tlv(0x03, Uint8Array.of(unusedBits), bytes);
}

/** INTEGER from unsigned big-endian magnitude bytes (leading zeros trimmed, 00 added when the top bit is set). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let body = magnitude.subarray(i);
  if (body.length === 0) body = Uint8Array.of(0);
  if (body[0]! & 0x80) body = concat([Uint8Array.of(0), body]);
  return tlv(0x02, body);
}

/** INTEGER from a non-negative safe integer (versions and the like). */
export function integer(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new DerError(`integer out of range: ${n}`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length ? bytes : [0]));
}

// OIDs repeat on every certificate and message; encoding each once keeps the
// CA's TBS under budget. Callers pass constants and configured EKU OIDs, so the
// cache stays small.
const oidCache = new Map<string, Uint8Array>();

export function objectIdentifier(dotted: string): Uint8Array {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(dotted)) throw new DerError(`not a dotted OID: ${dotted}`);
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const first = arcs[0]! * 40n + arcs[1]!;
  if (arcs[0]! < 2n && arcs[1]! > 39n) throw new DerError(`invalid OID: ${dotted}`);
  const body: number[] = [];
  for (const arc of [first, ...arcs.slice(2)]) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    body.push(...chunk);
  }
  const out = tlv(0x06, Uint8Array.from(body));
  oidCache.set(dotted, out);
  return out;
}

const utf8 = new TextEncoder();

export const utf8String = (s: string): Uint8Array => tlv(0x0c, utf8.encode(s));

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
export const isPrintableString = (s: string): boolean => PRINTABLE.test(s);
// eslint-disable-next-line no-control-regex
export const isIa5String = (s: string): boolean => /^[\x00-\x7f]*$/.test(s);

export function printableString(s: string): Uint8Array {
  if (!isPrintableString(s)) throw new DerError(`not a PrintableString: ${JSON.stringify(s)}`);
  return tlv(0x13, utf8.encode(s));
}

/** IA5String, or with `tag` an [n] IMPLICIT IA5String (GeneralName rfc822Name, dNSName, URI). */
export function ia5String(s: string, tag = 0x16): Uint8Array {
  if (!isIa5String(s)) throw new DerError(`not an IA5String (ASCII): ${JSON.stringify(s)}`);
  return tlv(tag, utf8.encode(s));
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/**
 * Time as RFC 5280 (certificates) and RFC 5652 (signingTime) both require:
 * UTCTime for 1950-2049, GeneralizedTime otherwise; whole seconds, Z.
 */
export function time(d: Date): Uint8Array {
  const y = d.getUTCFullYear();
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, utf8.encode(`${pad(y % 100)}${rest}`));
  return tlv(0x18, utf8.encode(`${pad(y, 4)}${rest}`));
}

/** AlgorithmIdentifier; `parameters` absent (not NULL) when not given. */
export const algorithmIdentifier = (oid: string, parameters?: Uint8Array): Uint8Array =>
  parameters ? sequence(objectIdentifier(oid), parameters) : sequence(objectIdentifier(oid));

/** Attribute ::= SEQUENCE { attrType OID, attrValues SET OF AttributeValue } */
export const attribute = (oid: string, ...values: Uint8Array[]): Uint8Array =>
  sequence(objectIdentifier(oid), setOf(values));
