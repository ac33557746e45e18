// Reading BER/DER with asn1js, through a handful of small checked accessors.
// SCEP peers send BER (Apple: indefinite lengths, constructed OCTET STRINGs),
// so nothing here assumes DER. Every structural surprise becomes a
// MESSAGE_MALFORMED error; callers attach the reply context when they know it.
//
// Why not the strict reader in ../asn1/der-reader.ts? Different job: that one
// slices DER the CA relies on and rejects BER; this one must accept BER from
// devices, so it builds an asn1js tree, and its errors are the codec's
// MESSAGE_MALFORMED rather than DerError. Writing is shared: ../asn1/der.ts.

import * as asn1js from 'asn1js';
import { concat } from '../../x509/asn1/bytes.js';
import { tlv } from '../../x509/asn1/der.js';
import { BER_PARSE_LIMITS } from '../../x509/asn1/limits.js';
import { malformed } from './errors.js';

/** The parts of an asn1js block we look at, typed once. */
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
 * Parses exactly one BER element that spans the whole input. asn1js enforces
 * the depth, element and length bounds while it reads (asn1/limits.ts), so a
 * deeply nested or element-flooded message stops at the bound instead of
 * building a tree (or a call stack) the size of the input.
 */
export function parseBer(bytes: Uint8Array, what: string): Node {
  if (bytes.length === 0) throw malformed(`${what}: empty input`);
  let parsed: ReturnType<typeof asn1js.fromBER>;
  try {
    parsed = asn1js.fromBER(bytes, BER_PARSE_LIMITS);
  } catch (e) {
    // asn1js throws (rather than reporting) on some primitive contents, e.g. a
    // GeneralizedTime that is not a time (fuzzing found it behind a valid signature).
    throw malformed(`${what}: ${(e as Error).message}`);
  }
  const { offset, result } = parsed;
  if (offset === -1 || (result as { error?: string }).error) {
    throw malformed(`${what}: ${(result as { error?: string }).error || 'not BER'}`);
  }
  if (offset !== bytes.length) throw malformed(`${what}: ${bytes.length - offset} trailing bytes`);
  const node = result as unknown as Node;
  assertComplete(node, what);
  return node;
}

// asn1js only warns when an indefinite-length element lacks its end-of-contents
// octets (a truncated Apple-style message); treat that as malformed.
function assertComplete(node: Node, what: string): void {
  const warnings = [...node.warnings, ...((node.valueBlock as { warnings?: string[] }).warnings ?? [])];
  if (warnings.some((w) => w.includes('EndOfContent'))) throw malformed(`${what}: truncated indefinite-length element`);
  if (node.idBlock.isConstructed) for (const child of rawChildren(node)) assertComplete(child, what);
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
  return (n as unknown as asn1js.ObjectIdentifier).valueBlock.toString();
}

/** The content octets of an OCTET STRING (or [n] IMPLICIT one), joining BER chunks. */
export function octetsOf(node: Node | undefined, what: string): Uint8Array {
  if (!node) throw malformed(`${what}: missing`);
  if (!node.idBlock.isConstructed) return primitiveContent(node, what);
  return concat(rawChildren(node).map((c) => octetsOf(expectUniversal(c, TAG.OCTET_STRING, what), what)));
}

export function primitiveContent(node: Node, what: string): Uint8Array {
  if (node.idBlock.isConstructed) throw malformed(`${what}: expected a primitive element`);
  // Cut the content from the received bytes: asn1js does not keep raw content
  // for every type (an OBJECT IDENTIFIER is decoded into arcs).
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
