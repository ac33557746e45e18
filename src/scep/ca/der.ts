// Minimal DER writer and TLV reader for the built-in CA.
//
// Why not build certificates with @peculiar/x509's X509CertificateGenerator or
// the @peculiar/asn1-x509 schema classes? Measured on this machine: the
// generator costs ~3 ms of JavaScript per certificate and schema serialisation
// ~0.3 ms, while the RSA-3072 signature itself is ~1.7 ms; the issuance budget
// is 2 ms. A TBSCertificate is a small, fixed structure, so it is written here
// directly (~0.02 ms) and every produced certificate is checked by the real
// OpenSSL CLI in test/ca. Parsing of untrusted input (CSRs, device
// certificates) still goes through @peculiar's ASN.1 schema layer; the reader
// below only slices out exact raw bytes (names, SPKI, key identifiers) and
// decodes primitive strings.

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

// ---- writer ------------------------------------------------------------------

function lengthBytes(len: number): Uint8Array {
  if (len < 0x80) return Uint8Array.of(len);
  const out: number[] = [];
  for (let n = len; n > 0; n = Math.floor(n / 256)) out.unshift(n & 0xff);
  return Uint8Array.from([0x80 | out.length, ...out]);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = content.length === 1 ? content[0]! : concat(content);
  const len = lengthBytes(body.length);
  const out = new Uint8Array(1 + len.length + body.length);
  out[0] = tag;
  out.set(len, 1);
  out.set(body, 1 + len.length);
  return out;
}

export const seq = (...content: Uint8Array[]): Uint8Array => tlv(0x30, ...content);
export const set = (...content: Uint8Array[]): Uint8Array => tlv(0x31, ...content);
export const octetString = (bytes: Uint8Array): Uint8Array => tlv(0x04, bytes);
export const nullValue = (): Uint8Array => Uint8Array.of(0x05, 0x00);
export const bool = (v: boolean): Uint8Array => Uint8Array.of(0x01, 0x01, v ? 0xff : 0x00);
/** Context-specific tag [n]; constructed for EXPLICIT tagging and constructed types. */
export const ctx = (n: number, constructed: boolean, ...content: Uint8Array[]): Uint8Array =>
  tlv(0x80 | (constructed ? 0x20 : 0) | n, ...content);

/** INTEGER from unsigned big-endian magnitude bytes (leading zeros trimmed, 00 added when the top bit is set). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let body = magnitude.subarray(i);
  if (body.length === 0) body = Uint8Array.of(0);
  if (body[0]! & 0x80) body = concat([Uint8Array.of(0), body]);
  return tlv(0x02, body);
}

export function smallInteger(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new DerError(`integer out of range: ${n}`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length ? bytes : [0]));
}

export function bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array {
  return tlv(0x03, Uint8Array.of(unusedBits), bytes);
}

const oidCache = new Map<string, Uint8Array>();

export function oid(dotted: string): Uint8Array {
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

export function ia5String(s: string, tag = 0x16): Uint8Array {
  if (!isIa5String(s)) throw new DerError(`not an IA5String (ASCII): ${JSON.stringify(s)}`);
  return tlv(tag, utf8.encode(s));
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Z. */
export function time(d: Date): Uint8Array {
  const y = d.getUTCFullYear();
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(0x17, utf8.encode(`${pad(y % 100)}${rest}`));
  return tlv(0x18, utf8.encode(`${pad(y, 4)}${rest}`));
}

// ---- reader ------------------------------------------------------------------

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

/** Reads one DER TLV at `offset` (definite lengths only, bounds-checked against `limit`). */
export function readTlv(buf: Uint8Array, offset = 0, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated DER');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('high-tag-number form not supported');
  let pos = offset + 1;
  const first = buf[pos++]!;
  let len: number;
  if (first < 0x80) {
    len = first;
  } else {
    const n = first & 0x7f;
    if (n === 0) throw new DerError('indefinite length is not DER');
    if (n > 4) throw new DerError('DER length too large');
    if (pos + n > limit) throw new DerError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos++]!;
    if (len < 0x80 || buf[pos - n] === 0) throw new DerError('non-minimal DER length');
  }
  const end = pos + len;
  if (end > limit) throw new DerError('truncated DER content');
  return { tag, start: offset, contentStart: pos, end };
}

/** The children of a constructed TLV. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let off = parent.contentStart; off < parent.end; ) {
    const t = readTlv(buf, off, parent.end);
    out.push(t);
    off = t.end;
  }
  return out;
}

export const raw = (buf: Uint8Array, t: Tlv): Uint8Array => buf.subarray(t.start, t.end);
export const content = (buf: Uint8Array, t: Tlv): Uint8Array => buf.subarray(t.contentStart, t.end);

/** Parses a whole buffer as exactly one TLV (no trailing bytes). */
export function readWhole(buf: Uint8Array, expectedTag?: number): Tlv {
  const t = readTlv(buf, 0);
  if (t.end !== buf.length) throw new DerError('trailing bytes after DER value');
  if (expectedTag !== undefined && t.tag !== expectedTag) {
    throw new DerError(`unexpected DER tag 0x${t.tag.toString(16)}`);
  }
  return t;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const latin1Decoder = new TextDecoder('latin1');

/**
 * Decodes the string types that appear in names, challenge passwords and
 * otherName values. Returns null for non-string tags.
 */
export function decodeString(tag: number, bytes: Uint8Array): string | null {
  switch (tag) {
    case 0x0c: // UTF8String
      return utf8Decoder.decode(bytes);
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
      return utf8Decoder.decode(bytes);
    case 0x14: // TeletexString (T61): treated as Latin-1, as most implementations do
      return latin1Decoder.decode(bytes);
    case 0x1e: {
      // BMPString: UCS-2 big-endian
      if (bytes.length % 2) throw new DerError('odd-length BMPString');
      let s = '';
      for (let i = 0; i < bytes.length; i += 2) s += String.fromCharCode((bytes[i]! << 8) | bytes[i + 1]!);
      return s;
    }
    case 0x1c: {
      // UniversalString: UCS-4 big-endian
      if (bytes.length % 4) throw new DerError('bad UniversalString length');
      let s = '';
      for (let i = 0; i < bytes.length; i += 4) {
        s += String.fromCodePoint(((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0);
      }
      return s;
    }
    default:
      return null;
  }
}

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const fromHex = (h: string): Uint8Array => {
  if (!/^([0-9a-fA-F]{2})*$/.test(h)) throw new DerError(`not hex: ${h}`);
  return new Uint8Array(Buffer.from(h, 'hex'));
};

/** Dotted form of an OBJECT IDENTIFIER's content bytes. */
export function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new DerError('empty OID');
  const arcs: bigint[] = [];
  let v = 0n;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (v === 0n && b === 0x80) throw new DerError('non-minimal OID arc');
    v = (v << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(v);
      v = 0n;
    } else if (i === bytes.length - 1) {
      throw new DerError('truncated OID');
    }
  }
  const first = arcs[0]!;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}
