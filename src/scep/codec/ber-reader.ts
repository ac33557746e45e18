// Reading BER/DER through a handful of small checked accessors.
// SCEP peers send BER (Apple: indefinite lengths, constructed OCTET STRINGs),
// so nothing here assumes DER. Every structural surprise becomes a
// MESSAGE_MALFORMED error; callers attach the reply context when they know it.
//
// Why not the strict reader in ../asn1/der-reader.ts? Different job: that one
// slices DER the CA relies on and rejects BER; this one must accept BER from
// devices, so it builds a tree of small nodes, and its errors are the codec's
// MESSAGE_MALFORMED rather than DerError. Writing is shared: ../asn1/der.ts.

import { concat } from '../../x509/asn1/bytes.js';
import { DerError } from '../../x509/asn1/der-error.js';
import { decodeOid } from '../../x509/asn1/der-reader.js';
import { tlv } from '../../x509/asn1/der.js';
import { BER_PARSE_LIMITS } from '../../x509/asn1/limits.js';
import { malformed } from './errors.js';

/** One element as the accessors see it (the shape of an asn1js block, which this reader used to be built on). */
export interface Node {
  idBlock: { tagClass: number; tagNumber: number; isConstructed: boolean };
  lenBlock: { isIndefiniteForm: boolean; length: number };
  valueBlock: { value?: unknown; valueHexView?: Uint8Array };
  valueBeforeDecodeView: Uint8Array;
  warnings: string[];
}

const UNIVERSAL = 1;
const CONTEXT = 3;

export const TAG = {
  INTEGER: 2,
  BIT_STRING: 3,
  OCTET_STRING: 4,
  NULL: 5,
  OID: 6,
  UTF8_STRING: 12,
  SEQUENCE: 16,
  SET: 17,
  PRINTABLE_STRING: 19,
  T61_STRING: 20,
  IA5_STRING: 22,
  UTC_TIME: 23,
  GENERALIZED_TIME: 24,
} as const;

/**
 * Parses exactly one BER element that spans the whole input, enforcing the
 * depth, element and length bounds while it reads (asn1/limits.ts), so a
 * deeply nested or element-flooded message stops at the bound instead of
 * building a tree (or a call stack) the size of the input.
 *
 * Our own reader (issue 13): asn1js built a typed object per element and
 * tried to decode every OCTET/BIT STRING's content as embedded ASN.1, about a
 * sixth of an enrollment's CPU. This one makes one small node per element and
 * leaves contents as views of the input; the accessors below are unchanged.
 * Its bound messages are asn1js's, so operators see the same reasons.
 */
export function parseBer(bytes: Uint8Array, what: string): Node {
  if (bytes.length === 0) throw malformed(`${what}: empty input`);
  if (bytes.length > BER_PARSE_LIMITS.maxContentLength) throw malformed(`${what}: Maximum ASN.1 content length exceeded`);
  // A plain Uint8Array view even when a Buffer comes in: Buffer#slice does not
  // copy, and callers rely on rawBytes()/primitiveContent() returning copies
  // (the signed attributes get their tag byte rewritten in place).
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let node: BerNode;
  try {
    node = readElement(view, 0, view.length, 0, { nodes: 0 });
  } catch (e) {
    if (e instanceof BerError) throw malformed(`${what}: ${e.message}`);
    throw e;
  }
  if (node.end !== bytes.length) throw malformed(`${what}: ${bytes.length - node.end} trailing bytes`);
  return node;
}

class BerError extends Error {}

/** A Node plus where it ends in the input. */
interface BerNode extends Node {
  end: number;
}

function readElement(buf: Uint8Array, offset: number, limit: number, depth: number, count: { nodes: number }): BerNode {
  if (++count.nodes > BER_PARSE_LIMITS.maxNodes) throw new BerError('Maximum ASN.1 node count exceeded');
  if (depth > BER_PARSE_LIMITS.maxDepth) throw new BerError('Maximum ASN.1 nesting depth exceeded');
  if (offset + 2 > limit) throw new BerError('truncated element');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new BerError('high tag numbers are not used in SCEP');
  const isConstructed = (tag & 0x20) !== 0;
  let pos = offset + 1;
  const first = buf[pos++]!;
  const indefinite = first === 0x80;
  let contentEnd = limit;
  if (!indefinite) {
    let len = first;
    if (first > 0x80) {
      const n = first & 0x7f;
      if (n > 4) throw new BerError('length too large');
      if (pos + n > limit) throw new BerError('truncated length');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[pos++]!;
    }
    contentEnd = pos + len;
    if (contentEnd > limit) throw new BerError('element longer than its container');
  } else if (!isConstructed) {
    throw new BerError('indefinite length on a primitive element');
  }
  const value: BerNode[] = [];
  let end = contentEnd;
  if (isConstructed) {
    let off = pos;
    for (;;) {
      if (indefinite) {
        if (off + 2 > limit) throw new BerError('truncated indefinite-length element');
        if (buf[off] === 0 && buf[off + 1] === 0) {
          contentEnd = off;
          end = off + 2;
          break;
        }
      } else if (off >= contentEnd) {
        break;
      }
      const child = readElement(buf, off, indefinite ? limit : contentEnd, depth + 1, count);
      value.push(child);
      off = child.end;
    }
  }
  return {
    idBlock: { tagClass: (tag >> 6) + 1, tagNumber: tag & 0x1f, isConstructed },
    lenBlock: { isIndefiniteForm: indefinite, length: contentEnd - pos },
    valueBlock: isConstructed ? { value } : {},
    valueBeforeDecodeView: buf.subarray(offset, end),
    warnings: [],
    end,
  };
}

function rawChildren(node: Node): Node[] {
  const value = node.valueBlock.value;
  return Array.isArray(value) ? (value as Node[]) : [];
}

export const isUniversal = (node: Node | undefined, tag: number): node is Node =>
  !!node && node.idBlock.tagClass === UNIVERSAL && node.idBlock.tagNumber === tag;

export const isContext = (node: Node | undefined, n: number): node is Node =>
  !!node && node.idBlock.tagClass === CONTEXT && node.idBlock.tagNumber === n;

/** Children of a constructed element that must carry the given universal tag. */
export function childrenOf(node: Node | undefined, tag: number, what: string): Node[] {
  if (!isUniversal(node, tag) || !node.idBlock.isConstructed) throw malformed(`${what}: expected ${tagName(tag)}`);
  return rawChildren(node);
}

/** Children of a constructed [n] element (EXPLICIT wrapper or IMPLICIT SET/SEQUENCE). */
export function contextChildren(node: Node | undefined, n: number, what: string): Node[] {
  if (!isContext(node, n) || !node.idBlock.isConstructed) throw malformed(`${what}: expected constructed [${n}]`);
  return rawChildren(node);
}

export function expectUniversal(node: Node | undefined, tag: number, what: string): Node {
  if (!isUniversal(node, tag)) throw malformed(`${what}: expected ${tagName(tag)}`);
  return node;
}

export function oidOf(node: Node | undefined, what: string): string {
  const n = expectUniversal(node, TAG.OID, what);
  try {
    return decodeOid(primitiveContent(n, what));
  } catch (e) {
    if (e instanceof DerError) throw malformed(`${what}: ${e.message}`);
    throw e;
  }
}

/** The content octets of an OCTET STRING (or [n] IMPLICIT one), joining BER chunks. */
export function octetsOf(node: Node | undefined, what: string): Uint8Array {
  if (!node) throw malformed(`${what}: missing`);
  if (!node.idBlock.isConstructed) return primitiveContent(node, what);
  return concat(rawChildren(node).map((c) => octetsOf(expectUniversal(c, TAG.OCTET_STRING, what), what)));
}

export function primitiveContent(node: Node, what: string): Uint8Array {
  if (node.idBlock.isConstructed) throw malformed(`${what}: expected a primitive element`);
  // Cut the content from the received bytes (copied: callers keep it).
  const raw = node.valueBeforeDecodeView;
  const length = node.lenBlock.length;
  if (!Number.isInteger(length) || length < 0 || length > raw.length) throw malformed(`${what}: bad length`);
  return raw.slice(raw.length - length);
}

/** INTEGER content octets as encoded (serial numbers are compared bytewise). */
export const integerBytes = (node: Node | undefined, what: string): Uint8Array =>
  primitiveContent(expectUniversal(node, TAG.INTEGER, what), what);

export function smallInteger(node: Node | undefined, what: string): number {
  const bytes = integerBytes(node, what);
  if (bytes.length === 0 || bytes.length > 4 || ((bytes[0] as number) & 0x80) !== 0) throw malformed(`${what}: bad INTEGER`);
  return bytes.reduce((n, b) => n * 256 + b, 0);
}

const STRING_TAGS: number[] = [TAG.PRINTABLE_STRING, TAG.UTF8_STRING, TAG.IA5_STRING, TAG.T61_STRING];

/** Text of a PrintableString (or, leniently, UTF8String/IA5String/T61String). */
export function stringOf(node: Node | undefined, what: string): string {
  if (!node || node.idBlock.tagClass !== UNIVERSAL || !STRING_TAGS.includes(node.idBlock.tagNumber)) {
    throw malformed(`${what}: expected a string`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(octetsOfString(node, what));
  } catch (e) {
    if (e instanceof Error && e.name === 'ScepMessageError') throw e;
    throw malformed(`${what}: not valid text`);
  }
}

// Strings may be BER-constructed too; their chunks share the outer tag.
function octetsOfString(node: Node, what: string): Uint8Array {
  if (!node.idBlock.isConstructed) return primitiveContent(node, what);
  return concat(rawChildren(node).map((c) => octetsOfString(c, what)));
}

/**
 * The element re-encoded with definite, minimal lengths (BER indefinite forms
 * removed). Used for Names and serial numbers in identifiers, so a BER-encoded
 * IssuerAndSerialNumber still matches the DER certificate. Single-byte tags only.
 */
export function definiteBytes(node: Node): Uint8Array {
  const tag = node.valueBeforeDecodeView[0] as number;
  if (!node.idBlock.isConstructed) return tlv(tag, primitiveContent(node, 'element'));
  return tlv(tag, ...rawChildren(node).map(definiteBytes));
}

/** The element exactly as received (tag, length, content). */
export const rawBytes = (node: Node): Uint8Array => node.valueBeforeDecodeView.slice();

function tagName(tag: number): string {
  const entry = Object.entries(TAG).find(([, v]) => v === tag);
  return entry ? entry[0].replace('_', ' ') : `tag ${tag}`;
}
