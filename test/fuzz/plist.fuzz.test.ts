import fc from 'fast-check';
import { build, buildBinary, parseBinary, type PlistValue } from 'plist';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BinaryPlistError, checkBinaryPlist } from '../../src/adapters/apple/bplist-check.js';
import { PlistError, parseDict } from '../../src/adapters/apple/plist-codec.js';
import { PLIST_LIMITS } from '../../src/core/input-limits.js';
import { buildBplist, doublingBomb } from '../helpers/bplist.js';
import { fuzzOptions, outcome, PER_INPUT_MS } from './fuzz-runs.js';

// Property-based tests of the Apple plist reader (plist-codec.ts and
// bplist-check.ts): whatever the bytes, parseDict returns a dictionary or
// throws PlistError, quickly; what the binary check accepts, parseBinary reads
// without throwing and within the node budget; and real plists (what `plist`
// itself writes, XML and binary) are never refused.

/** Values a device really sends: strings, integers, booleans, data, nested arrays and dictionaries. */
const plistValue: fc.Arbitrary<PlistValue> = fc.letrec<{ v: PlistValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string(),
    fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    fc.boolean(),
    fc.uint8Array({ maxLength: 64 }),
    fc.array(tie('v'), { maxLength: 5 }),
    fc.dictionary(fc.string({ minLength: 1 }).filter((k) => k !== '__proto__'), tie('v'), { maxKeys: 5 }),
  ),
})).v;
const plistDict = fc.dictionary(fc.string({ minLength: 1 }).filter((k) => k !== '__proto__'), plistValue, { maxKeys: 8 }) as fc.Arbitrary<Record<string, PlistValue>>;

/** A valid document with some of its bytes replaced, some cut off, or some inserted. */
function mutated(bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(bytes, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.constantFrom('replace', 'truncate', 'insert'))
    .map(([b, edits, how]) => {
      const out = [...b];
      for (const [at, v] of edits) {
        const i = at % Math.max(1, out.length);
        if (how === 'replace') out[i] = v;
        else if (how === 'insert') out.splice(i, 0, v);
        else out.length = Math.max(0, out.length - 1 - (at % 40));
      }
      return new Uint8Array(out);
    });
}

/** A random object graph in bplist00 form: random markers, sizes and references (in and out of range, shared, cyclic). */
const randomGraph: fc.Arbitrary<Uint8Array> = fc
  .integer({ min: 1, max: 12 })
  .chain((n) =>
    fc.record({
      objects: fc.array(
        fc.oneof(
          fc.constantFrom([0x00], [0x08], [0x09], [0x10, 7], [0x11, 1, 2], [0x23, 0, 0, 0, 0, 0, 0, 0, 0], [0x33, 0, 0, 0, 0, 0, 0, 0, 0], [0x51, 0x61], [0x61, 0, 0x62], [0x42, 1, 2], [0x80, 5], [0x70], [0x14, 1]),
          fc.array(fc.integer({ min: 0, max: n + 1 }), { maxLength: 4 }).map((refs) => [0xa0 | refs.length, ...refs]),
          fc.array(fc.integer({ min: 0, max: n + 1 }), { maxLength: 3 }).map((keys) => [0xd0 | keys.length, ...keys, ...keys.map((k) => (k + 1) % (n + 1))]),
          fc.uint8Array({ minLength: 1, maxLength: 6 }).map((b) => [...b]),
        ),
        { minLength: n, maxLength: n },
      ),
      top: fc.integer({ min: 0, max: n }),
    }),
  )
  .map(({ objects, top }) => buildBplist({ objects: objects.map((o) => new Uint8Array(o)), top }));

/** Values parseBinary built, counted the way the checker's budget counts them. */
function countValues(v: unknown): number {
  if (Array.isArray(v)) return 1 + v.reduce((n: number, x) => n + countValues(x), 0);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof Date) && !('UID' in v)) {
    return 1 + Object.entries(v).reduce((n, [, x]) => n + 1 + countValues(x), 0);
  }
  return 1;
}

function expectDictOrPlistError(body: Uint8Array): void {
  const r = outcome(() => parseDict(body));
  if (!r.ok) expect(r.error).toBeInstanceOf(PlistError);
  else expect(typeof r.value).toBe('object');
  expect(r.ms).toBeLessThan(PER_INPUT_MS);
}

describe('plist fuzzing', () => {
  // xmldom (inside plist) printed every malformed document with console.error, outside the JSON log;
  // parseDict now reads XML with an error handler first, so nothing at all may be printed.
  const printed: ReturnType<typeof vi.spyOn>[] = [];
  beforeAll(() => {
    printed.push(vi.spyOn(console, 'error').mockImplementation(() => {}), vi.spyOn(console, 'warn').mockImplementation(() => {}));
  });
  afterAll(() => {
    vi.restoreAllMocks();
  });
  const nothingPrinted = () => {
    for (const spy of printed) expect(spy).not.toHaveBeenCalled();
  };

  it('reads what plist itself writes, XML and binary, unchanged', () => {
    fc.assert(
      fc.property(plistDict, (d) => {
        const expected = JSON.parse(JSON.stringify(d, (_k, v) => (v instanceof Uint8Array ? [...v] : v)));
        const norm = (x: unknown) => JSON.parse(JSON.stringify(x, (_k, v) => (v instanceof Uint8Array ? [...v] : v)));
        expect(norm(parseDict(new Uint8Array(Buffer.from(build(d)))))).toEqual(expected);
        expect(norm(parseDict(new Uint8Array(buildBinary(d))))).toEqual(expected);
      }),
      fuzzOptions(40),
    );
  });

  it('mutated binary plists: a dictionary or PlistError, never another exception, quickly', () => {
    fc.assert(fc.property(mutated(plistDict.map((d) => new Uint8Array(buildBinary(d)))), expectDictOrPlistError), fuzzOptions(150));
  });

  it('mutated XML plists: a dictionary or PlistError', () => {
    fc.assert(fc.property(mutated(plistDict.map((d) => new Uint8Array(Buffer.from(build(d))))), expectDictOrPlistError), fuzzOptions(100));
    nothingPrinted();
  });

  it('arbitrary bytes and text, with and without the bplist00 magic: a dictionary or PlistError', () => {
    const magic = new Uint8Array(Buffer.from('bplist00'));
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }).map((b) => new Uint8Array([...magic, ...b])), fc.string({ unit: 'binary' }).map((s) => new Uint8Array(Buffer.from(s))));
    fc.assert(fc.property(bytes, expectDictOrPlistError), fuzzOptions(150));
    nothingPrinted();
  });

  it('random object graphs: what the check accepts parseBinary reads, within the node budget', () => {
    fc.assert(
      fc.property(randomGraph, (doc) => {
        const checked = outcome(() => checkBinaryPlist(doc));
        expect(checked.ms).toBeLessThan(PER_INPUT_MS);
        if (!checked.ok) {
          expect(checked.error).toBeInstanceOf(BinaryPlistError);
          return;
        }
        const value = parseBinary(Buffer.from(doc));
        expect(countValues(value)).toBeLessThanOrEqual(PLIST_LIMITS.maxExpandedNodes);
        expectDictOrPlistError(doc);
      }),
      fuzzOptions(300),
    );
  });

  it('regression: the S1 bomb at depths 10 to 47 is refused or small', () => {
    for (const levels of [10, 15, 16, 22, 30, 47]) {
      const r = outcome(() => parseDict(doublingBomb(levels)));
      expect(r.ms).toBeLessThan(PER_INPUT_MS);
      if (levels >= 16) expect(r.ok).toBe(false); // 2^16 leaves and 2^16-1 arrays exceed the 100,000-value budget
    }
  });
});
