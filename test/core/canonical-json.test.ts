import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalEqual, canonicalJson } from '../../src/core/canonical-json.js';

// The loop version (issue 13) must give the text the first version gave:
// every stored challenge's request hash and every served ETag depends on it.
function previous(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(previous).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${previous(v)}`).join(',')}}`;
}

describe('canonicalJson', () => {
  it('sorts keys at every level, drops undefined members, keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined }], c: null }, e: undefined })).toBe('{"a":{"c":null,"d":[3,{"z":1}]},"b":1}');
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson({ 'é': 1, Z: 2, a: 3, 10: 4, 9: 5 })).toBe('{"10":4,"9":5,"Z":2,"a":3,"é":1}');
  });

  it('gives the same text as the first version on generated values (seed 13)', () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined)),
      arr: fc.array(tie('any'), { maxLength: 5 }),
      obj: fc.dictionary(fc.string({ maxLength: 6 }), tie('any'), { maxKeys: 6 }),
      any: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('arr'), tie('obj')),
    })).any;
    fc.assert(fc.property(value, (v) => canonicalJson(v) === previous(v)), { seed: 13, numRuns: 3000 });
    // A sparse array: holes stay empty, as before.
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 2];
    expect(canonicalJson(sparse)).toBe(previous(sparse));
  });

  it('canonicalEqual says what comparing the two texts says (seed 13)', () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.constantFrom('a', 'b', ''), fc.integer({ min: -2, max: 2 }), fc.constantFrom(NaN, Infinity, 0.5), fc.boolean(), fc.constant(null), fc.constant(undefined)),
      arr: fc.array(tie('any'), { maxLength: 3 }),
      obj: fc.dictionary(fc.constantFrom('a', 'b', 'c'), tie('any'), { maxKeys: 3 }),
      any: fc.oneof({ depthSize: 'small' }, tie('leaf'), tie('arr'), tie('obj')),
    })).any;
    let equalPairs = 0;
    fc.assert(
      fc.property(value, value, (a, b) => {
        const same = canonicalJson(a) === canonicalJson(b);
        if (same) equalPairs += 1;
        // A value against a reordered copy of itself, too.
        const copy = JSON.parse(JSON.stringify([a]) ?? '[null]')[0];
        return canonicalEqual(a, b) === same && canonicalEqual(a, a) && canonicalEqual(b, b) && canonicalEqual(copy, a) === (canonicalJson(copy) === canonicalJson(a));
      }),
      { seed: 13, numRuns: 5000 },
    );
    // The small alphabet makes equal pairs that are not the same object: the true branch is exercised.
    expect(equalPairs).toBeGreaterThan(100);
    expect(canonicalEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(canonicalEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(canonicalEqual([1, 2], { 0: 1, 1: 2 })).toBe(false);
    expect(canonicalEqual(NaN, null)).toBe(true); // both write null
  });
});
