// The strict DER reader: offsets into one buffer, so callers can slice out
// exact raw bytes (a certificate's TBS, issuer Name, SPKI, key identifiers)
// and copy or hash them without a decode/re-encode round trip, which could
// change a string type and break a chain or a signature.
//
// Why a second reader next to ../codec/ber-reader.ts (asn1js)? They do
// different jobs. That one builds a tree from lenient BER that SCEP peers send
// (indefinite lengths, constructed strings) and reports MESSAGE_MALFORMED.
// This one reads DER the CA and the CSR/certificate parser rely on being DER:
// it rejects indefinite and non-minimal lengths and non-minimal OID arcs
// (asn1js accepts all three), returns offsets rather than copies, and
// throws DerError. Structure of untrusted CSRs and certificates is still decoded by
// @peculiar's schema layer (../csr.ts); this only slices and decodes
// primitives.

import { DerError } from './der-error.js';

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
