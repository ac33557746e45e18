import { PLIST_LIMITS } from '../../core/input-limits.js';

// Structural check of a bplist00 document BEFORE plist's parseBinary sees it.
// parseBinary trusts the file: it follows object references recursively and
// builds a fresh value each time one is reached, so a handful of arrays that
// each reference the next one twice expand to 2^n values (issue #15, S1: 239
// bytes took the process to its heap limit), a reference back to an ancestor
// recurses forever, and offsets or sizes past the end throw from deep inside.
// Here every offset, size and reference is checked against the file, and the
// object graph is walked as parseBinary would walk it (iteratively, a shared
// object counted every time it is reached) against node, byte, string
// character and depth budgets. Nothing is decoded; the cost is linear in the budget.
//
// Format: Apple's CFBinaryPList.c. Header "bplist00"; objects; offset table;
// 32-byte trailer (5 unused bytes, sortVersion, offsetIntSize, objectRefSize,
// numObjects u64, topObject u64, offsetTableOffset u64; big-endian).

export class BinaryPlistError extends Error {}

export interface BinaryPlistLimits {
  maxDepth: number;
  maxExpandedNodes: number;
  maxExpandedBytes: number;
  maxExpandedStringChars: number;
  maxContainerEntries: number;
}

const HEADER = 'bplist00';
const TRAILER = 32;
const LEAF = 0;
const ARRAY = 1;
const DICT = 2;
const ASCII = 3;
const UTF16 = 4;

/** The parsed table: per object, its kind, entry count, where its references start, and its leaf byte size. */
interface Table {
  refSize: number;
  kind: Uint8Array;
  count: Uint32Array;
  refsAt: Uint32Array;
  bytes: Uint32Array;
}

const refuse = (why: string): never => {
  throw new BinaryPlistError(why);
};

function readUint(buf: Uint8Array, at: number, size: number, end: number): number {
  if (at + size > end) refuse('value runs past its region');
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) refuse(`integer size ${size}`);
  let v = 0;
  for (let i = 0; i < size; i++) v = v * 256 + buf[at + i]!;
  if (!Number.isSafeInteger(v)) refuse('integer too large');
  return v;
}

/** Throws BinaryPlistError unless `buf` is a bplist00 document within the limits. */
export function checkBinaryPlist(buf: Uint8Array, limits: BinaryPlistLimits = PLIST_LIMITS): void {
  const t = readTable(buf, limits);
  walk(buf, t, readUint(buf, buf.length - 16, 8, buf.length), limits);
}

function readTable(buf: Uint8Array, limits: BinaryPlistLimits): Table {
  if (buf.length < HEADER.length + 1 + TRAILER) refuse('too short for a binary plist');
  if (Buffer.from(buf.subarray(0, 8)).toString('latin1') !== HEADER) refuse('not a bplist00 document');
  const tr = buf.length - TRAILER;
  const offsetSize = buf[tr + 6]!;
  const refSize = buf[tr + 7]!;
  if (![1, 2, 4, 8].includes(offsetSize) || ![1, 2, 4, 8].includes(refSize)) refuse('bad offset or reference size in the trailer');
  const numObjects = readUint(buf, tr + 8, 8, buf.length);
  const top = readUint(buf, tr + 16, 8, buf.length);
  const tableAt = readUint(buf, tr + 24, 8, buf.length);
  if (numObjects < 1 || top >= numObjects) refuse('top object out of range');
  // Every object needs at least one byte and one offset: bounded by the file before anything is allocated.
  if (tableAt < HEADER.length || tableAt + numObjects * offsetSize > tr || numObjects > tableAt - HEADER.length) refuse('offset table out of range');
  const t: Table = { refSize, kind: new Uint8Array(numObjects), count: new Uint32Array(numObjects), refsAt: new Uint32Array(numObjects), bytes: new Uint32Array(numObjects) };
  for (let i = 0; i < numObjects; i++) {
    const at = readUint(buf, tableAt + i * offsetSize, offsetSize, tr);
    if (at < HEADER.length || at >= tableAt) refuse(`object ${i} offset out of range`);
    readObject(buf, at, tableAt, i, t, limits);
  }
  for (let i = 0; i < numObjects; i++) checkRefs(buf, t, i, numObjects);
  return t;
}

/** Validates one object's marker and extent (parseBinary's switch, with bounds) and records it. */
function readObject(buf: Uint8Array, at: number, end: number, i: number, t: Table, limits: BinaryPlistLimits): void {
  const marker = buf[at]!;
  const type = marker >> 4;
  const nibble = marker & 0x0f;
  let p = at + 1;
  const fits = (n: number) => {
    if (p + n > end) refuse(`object ${i} runs past the object area`);
  };
  switch (type) {
    case 0x0:
      if (marker !== 0x00 && marker !== 0x08 && marker !== 0x09) refuse(`object ${i}: unknown singleton 0x${marker.toString(16)}`);
      return;
    case 0x1:
      if (nibble > 3) refuse(`object ${i}: integer of 2^${nibble} bytes`);
      return fits(1 << nibble);
    case 0x2:
      if (nibble !== 2 && nibble !== 3) refuse(`object ${i}: real of 2^${nibble} bytes`);
      return fits(1 << nibble);
    case 0x3:
      if (marker !== 0x33) refuse(`object ${i}: bad date marker`);
      return fits(8);
    case 0x8:
      if (![0, 1, 3, 7].includes(nibble)) refuse(`object ${i}: UID of ${nibble + 1} bytes`);
      return fits(nibble + 1);
  }
  if (![0x4, 0x5, 0x6, 0xa, 0xd].includes(type)) refuse(`object ${i}: unsupported type 0x${type.toString(16)}`);
  let count = nibble;
  if (nibble === 0x0f) {
    fits(1);
    const ext = buf[p]!;
    if (ext >> 4 !== 0x1 || (ext & 0x0f) > 3) refuse(`object ${i}: bad extended size`);
    const size = 1 << (ext & 0x0f);
    count = readUint(buf, p + 1, size, end);
    p += 1 + size;
  }
  if (type === 0xa || type === 0xd) {
    if (count > limits.maxContainerEntries) refuse(`object ${i}: ${count} entries (at most ${limits.maxContainerEntries})`);
    fits(count * t.refSize * (type === 0xd ? 2 : 1));
    t.kind[i] = type === 0xa ? ARRAY : DICT;
    t.count[i] = count;
    t.refsAt[i] = p;
    return;
  }
  const bytes = type === 0x6 ? count * 2 : count;
  fits(bytes);
  t.kind[i] = type === 0x4 ? LEAF : type === 0x5 ? ASCII : UTF16;
  t.count[i] = count;
  t.bytes[i] = bytes;
  t.refsAt[i] = p;
}

/** References in range; dictionary keys are strings and never `__proto__` (it would set the dictionary's prototype). */
function checkRefs(buf: Uint8Array, t: Table, i: number, numObjects: number): void {
  const kind = t.kind[i];
  if (kind !== ARRAY && kind !== DICT) return;
  const n = t.count[i]! * (kind === DICT ? 2 : 1);
  for (let j = 0; j < n; j++) {
    const ref = readUint(buf, t.refsAt[i]! + j * t.refSize, t.refSize, buf.length);
    if (ref >= numObjects) refuse(`object ${i} references object ${ref} of ${numObjects}`);
    if (kind === DICT && j < t.count[i]!) {
      if (t.kind[ref] !== ASCII && t.kind[ref] !== UTF16) refuse(`object ${i}: a dictionary key is not a string`);
      if (isProto(buf, t, ref)) refuse(`object ${i}: a __proto__ key`);
    }
  }
}

function isProto(buf: Uint8Array, t: Table, s: number): boolean {
  if (t.count[s] !== 9) return false;
  const text = Buffer.from(buf.subarray(t.refsAt[s]!, t.refsAt[s]! + t.bytes[s]!));
  return (t.kind[s] === ASCII ? text.toString('latin1') : text.swap16().toString('utf16le')) === '__proto__';
}

/** Walks the graph from the top object the way parseBinary will, counting every visit. */
function walk(buf: Uint8Array, t: Table, top: number, limits: BinaryPlistLimits): void {
  const onPath = new Uint8Array(t.kind.length);
  const stack: { obj: number; next: number; total: number }[] = [];
  let nodes = 0;
  let bytes = 0;
  let chars = 0;
  const visit = (obj: number) => {
    if (++nodes > limits.maxExpandedNodes) refuse(`expands to more than ${limits.maxExpandedNodes} values`);
    const kind = t.kind[obj];
    if (kind !== ARRAY && kind !== DICT) {
      bytes += t.bytes[obj]!;
      if (bytes > limits.maxExpandedBytes) refuse(`expands to more than ${limits.maxExpandedBytes} bytes of strings and data`);
      if (kind === ASCII || kind === UTF16) chars += t.count[obj]!;
      if (chars > limits.maxExpandedStringChars) refuse(`expands to more than ${limits.maxExpandedStringChars} string characters`);
      return;
    }
    if (onPath[obj]) refuse(`object ${obj} contains itself`);
    if (stack.length >= limits.maxDepth) refuse(`nested deeper than ${limits.maxDepth}`);
    onPath[obj] = 1;
    stack.push({ obj, next: 0, total: t.count[obj]! * (kind === DICT ? 2 : 1) });
  };
  visit(top);
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    if (f.next === f.total) {
      onPath[f.obj] = 0;
      stack.pop();
      continue;
    }
    const ref = readUint(buf, t.refsAt[f.obj]! + f.next * t.refSize, t.refSize, buf.length);
    f.next++;
    visit(ref);
  }
}
