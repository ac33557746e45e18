import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { concat } from '../../src/x509/asn1/bytes.js';
import { DerError, sequence, tlv } from '../../src/x509/asn1/der.js';

// Issue 13: tlv() writes the header and every part straight into one array
// (src/x509/asn1/der.ts). It must give exactly the bytes of the writer it
// replaced, which joined the parts into a body first and built the length
// octets as an array: that writer, verbatim, is the reference here, compared
// over many random part lists whose total lengths cross every length-form
// boundary (127/128, 255/256, 65535/65536).

function referenceLengthBytes(len: number): Uint8Array {
  if (len < 0x80) return Uint8Array.of(len);
  const out: number[] = [];
  for (let n = len; n > 0; n = Math.floor(n / 256)) out.unshift(n & 0xff);
  return Uint8Array.from([0x80 | out.length, ...out]);
}

function referenceTlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = content.length === 1 ? content[0]! : concat(content);
  const len = referenceLengthBytes(body.length);
  const out = new Uint8Array(1 + len.length + body.length);
  out[0] = tag;
  out.set(len, 1);
  out.set(body, 1 + len.length);
  return out;
}

/** A small seeded generator: a failure names its seed and is reproducible. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

const BOUNDARIES = [0, 1, 126, 127, 128, 129, 254, 255, 256, 257, 65534, 65535, 65536, 65537, 70000];

describe('tlv (the DER writer) against the joining writer it replaced', () => {
  it('gives the same bytes for 3,000 random part lists (0 to 6 parts, totals across every length form)', () => {
    const random = rng(0x13);
    for (let i = 0; i < 3000; i++) {
      const parts = Array.from({ length: Math.floor(random() * 7) }, () => {
        // Mostly small parts, some sized to land the total on a boundary.
        const size = random() < 0.2 ? BOUNDARIES[Math.floor(random() * BOUNDARIES.length)]! : Math.floor(random() * 300);
        const part = new Uint8Array(size);
        // Random head and tail (what an offset mistake would misplace), the middle a fixed pattern: cheap for the large parts.
        for (let j = 0; j < size; j++) part[j] = j < 64 || j >= size - 64 ? Math.floor(random() * 256) : j & 0xff;
        return part;
      });
      const tag = Math.floor(random() * 31) | (random() < 0.5 ? 0x20 : 0);
      const ours = tlv(tag, ...parts);
      const reference = referenceTlv(tag, ...parts);
      if (Buffer.compare(ours, reference) !== 0) throw new Error(`differs at case ${i}: tag ${tag}, parts ${parts.map((p) => p.length).join(',')}`);
    }
  });

  it('gives the same bytes at every length boundary, as one part and as two', () => {
    for (const total of BOUNDARIES) {
      const body = Uint8Array.from({ length: total }, (_, i) => i & 0xff);
      expect(Buffer.compare(tlv(0x04, body), referenceTlv(0x04, body))).toBe(0);
      const cut = Math.floor(total / 3);
      expect(Buffer.compare(tlv(0x30, body.subarray(0, cut), body.subarray(cut)), referenceTlv(0x30, body.subarray(0, cut), body.subarray(cut)))).toBe(0);
    }
    // The 4-octet length form (16 MiB and more).
    const big = new Uint8Array(0x1000000);
    expect(Buffer.compare(tlv(0x04, big).subarray(0, 6), referenceTlv(0x04, big).subarray(0, 6))).toBe(0);
  });

  it('copies its parts: changing a part afterwards does not change the TLV', () => {
    const part = Uint8Array.of(1, 2, 3);
    const out = tlv(0x04, part);
    part[0] = 9;
    expect([...out]).toEqual([0x04, 0x03, 1, 2, 3]);
  });

  it('refuses a length beyond four length octets with a DerError, not a wrong encoding', () => {
    const huge = { length: 2 ** 32 } as unknown as Uint8Array;
    expect(() => tlv(0x04, huge)).toThrow(DerError);
  });

  it.skipIf(!existsSync('/usr/bin/openssl'))('nested output parses with openssl asn1parse', () => {
    const inner = Array.from({ length: 40 }, (_, i) => tlv(0x04, new Uint8Array(i * 7)));
    const der = sequence(sequence(...inner), tlv(0x04, new Uint8Array(300)), tlv(0x04, new Uint8Array(70000)));
    const out = execFileSync('openssl', ['asn1parse', '-inform', 'DER'], { input: der }).toString();
    expect(out.split('\n').filter((l) => /OCTET STRING/.test(l))).toHaveLength(42);
    expect(out).not.toMatch(/error/i);
  });
});
