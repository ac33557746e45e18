import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OcspRequestError, parseOcspRequest } from '../../src/ca/ocsp/request-parser.js';
import { certId, ocspRequest } from '../ca/ocsp/helpers.js';
import { fuzzOptions, outcome, PER_INPUT_MS } from './fuzz-runs.js';

// Property-based tests of the OCSP request parser: whatever the bytes, it
// gives a request or an OcspRequestError (answered malformedRequest), quickly;
// never another exception, which would surface as an HTTP 500. Mutations
// start from real requests (with a nonce, two CertIDs) so they reach past the
// first length byte.

// Any CA certificate works as the issuer: only its name and key are hashed.
const issuer = new Uint8Array(new X509Certificate(readFileSync(new URL('../fixtures/scep/throwaway-scep-ca.pem', import.meta.url))).raw);

const base = (): Uint8Array => ocspRequest({ issuer, serial: '1f2e3d4c5b6a', nonce: randomBytes(16) }, { issuer, serial: '7f', hash: 'sha256' });

function mutated(): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.constantFrom('replace', 'insert', 'truncate'))
    .map(([edits, how]) => {
      const out = [...base()];
      for (const [at, v] of edits) {
        const i = at % Math.max(1, out.length);
        if (how === 'replace') out[i] = v;
        else if (how === 'insert') out.splice(i, 0, v);
        else out.length = i;
      }
      return new Uint8Array(out);
    });
}

const derish: fc.Arbitrary<Uint8Array> = fc
  .array(fc.oneof(fc.constantFrom(0x30, 0x02, 0x04, 0x05, 0x06, 0x0a, 0xa0, 0xa1, 0xa2, 0x80, 0x81, 0x82, 0x84, 0x00), fc.integer({ min: 0, max: 255 })), { maxLength: 120 })
  .map((b) => new Uint8Array(b));

function expectParserOutcome(der: Uint8Array): void {
  const r = outcome(() => parseOcspRequest(der));
  if (r.ok) {
    expect(r.value.certIds.length).toBeGreaterThan(0);
    for (const c of r.value.certIds) expect(c.serial).toMatch(/^[0-9a-f]+$/);
  } else {
    expect(r.error).toBeInstanceOf(OcspRequestError);
  }
  expect(r.ms).toBeLessThan(PER_INPUT_MS);
}

describe('OCSP request parser (fuzz)', () => {
  it('reads a real request', () => {
    const r = parseOcspRequest(base());
    expect(r.certIds.map((c) => c.serial)).toEqual(['1f2e3d4c5b6a', '7f']);
    expect(Buffer.from(r.certIds[0]!.der).equals(Buffer.from(certId({ issuer, serial: '1f2e3d4c5b6a' })))).toBe(true);
    expect(r.nonce).toHaveLength(18);
  });

  it('gives a request or an OcspRequestError for mutated requests', () => {
    fc.assert(fc.property(mutated(), expectParserOutcome), fuzzOptions(300));
  });

  it('gives a request or an OcspRequestError for DER-looking and random bytes', () => {
    fc.assert(fc.property(fc.oneof(derish, fc.uint8Array({ maxLength: 300 })), expectParserOutcome), fuzzOptions(300));
  });
});
