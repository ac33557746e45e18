// Hand-built bplist00 documents for the parser-limit and fuzz tests: objects
// as raw bytes (marker + payload, references already encoded), then the
// offset table and the 32-byte trailer, so a test can build exactly the
// malformed or explosive structure it needs.

export interface BplistParts {
  objects: Uint8Array[];
  top?: number;
  refSize?: number;
  offsetSize?: number;
}

const be = (v: number, size: number): number[] => {
  const out: number[] = [];
  for (let i = size - 1; i >= 0; i--) out.push(Math.floor(v / 256 ** i) % 256);
  return out;
};

export function buildBplist({ objects, top = 0, refSize = 1, offsetSize = 1 }: BplistParts): Uint8Array {
  const bytes: number[] = [...Buffer.from('bplist00', 'latin1')];
  const offsets: number[] = [];
  for (const o of objects) {
    offsets.push(bytes.length);
    for (const b of o) bytes.push(b);
  }
  const tableAt = bytes.length;
  for (const off of offsets) bytes.push(...be(off, offsetSize));
  bytes.push(0, 0, 0, 0, 0, 0, offsetSize, refSize, ...be(objects.length, 8), ...be(top, 8), ...be(tableAt, 8));
  return new Uint8Array(bytes);
}

/** An ASCII string object. */
export const str = (s: string): Uint8Array => {
  const b = Buffer.from(s, 'latin1');
  return new Uint8Array(b.length < 15 ? [0x50 | b.length, ...b] : [0x5f, 0x11, ...be(b.length, 2), ...b]);
};

/** An array object of one-byte references. */
export const arr = (...refs: number[]): Uint8Array => new Uint8Array([0xa0 | refs.length, ...refs]);

/** A dictionary object of one-byte references: keys then values. */
export const dict = (keys: number[], values: number[]): Uint8Array => new Uint8Array([0xd0 | keys.length, ...keys, ...values]);

/**
 * Issue #15, S1: a dictionary { "a": array0 } whose arrays each reference the
 * next one twice, so parseBinary builds 2^levels leaves. levels = 48 gives
 * the 239-byte document from the report.
 */
export function doublingBomb(levels = 47): Uint8Array {
  // 0: top dict, 1: key "a", 2..levels+1: arrays, levels+2: leaf string.
  const objects: Uint8Array[] = [dict([1], [2]), str('a')];
  for (let i = 0; i < levels; i++) {
    const next = 2 + i + 1;
    objects.push(arr(next, next));
  }
  objects.push(str('xy'));
  return buildBplist({ objects });
}
