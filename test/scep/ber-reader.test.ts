import { describe, expect, it } from 'vitest';
import { childrenOf, parseBer, primitiveContent, rawBytes, TAG } from '../../src/scep/codec/ber-reader.js';

// The codec's own BER reader (issue 13) returns copies from rawBytes() and
// primitiveContent(), also when the input is a Buffer (whose slice() is a view):
// the signed-attributes check rewrites a tag byte in its copy, and a second
// read of the same request (the previous-RA fallback) must see the original.

describe('BER reader copies', () => {
  it('never lets a caller write into the received bytes, Buffer input included', () => {
    const der = Buffer.from([0x30, 0x08, 0xa0, 0x03, 0x04, 0x01, 0x07, 0x02, 0x01, 0x05]);
    const before = Buffer.from(der);
    const [tagged, int] = childrenOf(parseBer(der, 'test'), TAG.SEQUENCE, 'test');
    const raw = rawBytes(tagged!);
    raw[0] = 0x31;
    primitiveContent(int!, 'int')[0] = 0xff;
    expect(der.equals(before)).toBe(true);
    expect([...rawBytes(tagged!)]).toEqual([0xa0, 0x03, 0x04, 0x01, 0x07]);
  });

  it('reads indefinite lengths and refuses a missing end-of-contents, depth and node floods with asn1js\'s messages', () => {
    const indefinite = new Uint8Array([0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00]);
    expect(childrenOf(parseBer(indefinite, 'x'), TAG.SEQUENCE, 'x')).toHaveLength(1);
    expect(() => parseBer(indefinite.subarray(0, 5), 'x')).toThrow(/x: truncated indefinite-length element/);
    expect(() => parseBer(new Uint8Array([...Array(40).fill([0x30, 0x80]).flat(), ...Array(80).fill(0)]), 'x')).toThrow(/Maximum ASN.1 nesting depth exceeded/);
    const flood = new Uint8Array([0x30, 0x82, 0x27, 0x10, ...Array(5000).fill([0x05, 0x00]).flat()]);
    expect(() => parseBer(flood, 'x')).toThrow(/Maximum ASN.1 node count exceeded/);
    expect(() => parseBer(new Uint8Array([0x02, 0x01, 0x05, 0x00]), 'x')).toThrow(/1 trailing bytes/);
  });
});
