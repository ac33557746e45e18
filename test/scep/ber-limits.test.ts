import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCEP_LIMITS } from '../../src/core/input-limits.js';
import { CsrParseError, parseCsr } from '../../src/x509/csr-parser.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeCsr, makeRequester } from './helpers.js';

// BER/DER bounds (issue #15): a pkiMessage or CSR nested past the depth bound
// or flooded with elements is refused by the reader at the bound, with the
// codec's MESSAGE_MALFORMED (HTTP 400, no context to sign a CertRep for) or a
// CsrParseError, in milliseconds. asn1js 4 already stops at depth 100 and
// 10,000 elements by default; these tests pin the gateway's own, tighter,
// documented bounds (depth 32) so a dependency change cannot loosen them.

/** `depth` nested indefinite-length SEQUENCEs, properly closed. */
const nested = (depth: number): Uint8Array => new Uint8Array([...Array(depth).fill([0x30, 0x80]).flat(), ...Array(depth * 2).fill(0)]);

/** One SEQUENCE holding `n` NULLs. */
function flood(n: number): Uint8Array {
  const content = new Uint8Array(n * 2).fill(0).map((_, i) => (i % 2 === 0 ? 0x05 : 0));
  const len = content.length;
  return new Uint8Array([0x30, 0x83, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff, ...content]);
}

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t?.stop();
});

async function pkiOperation(body: Uint8Array): Promise<{ status: number; text: string; ms: number }> {
  const started = performance.now();
  const res = await fetch(`${t.scepUrl}?operation=PKIOperation`, { method: 'POST', body });
  return { status: res.status, text: await res.text(), ms: performance.now() - started };
}

describe('SCEP pkiMessage bounds', () => {
  it('refuses a message nested deeper than 32 (within what asn1js alone would read) with 400 MESSAGE_MALFORMED', async () => {
    const r = await pkiOperation(nested(SCEP_LIMITS.maxBerDepth + 8));
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/^MESSAGE_MALFORMED: .*pkiMessage: Maximum ASN.1 nesting depth exceeded/);
    expect(r.ms).toBeLessThan(1000);
  });

  it('refuses a 100,000-deep nesting bomb and a 120,000-element flood in the 256 KiB body, fast', async () => {
    for (const [body, why] of [
      [nested(60_000), /nesting depth exceeded/],
      [flood(120_000), /node count exceeded/],
    ] as const) {
      expect(body.length).toBeLessThanOrEqual(SCEP_LIMITS.maxMessageBytes);
      const r = await pkiOperation(body);
      expect(r.status).toBe(400);
      expect(r.text).toMatch(why);
      expect(r.ms).toBeLessThan(1000);
    }
  });

  it('answers 413 to a body over 256 KiB', async () => {
    const r = await pkiOperation(new Uint8Array(SCEP_LIMITS.maxMessageBytes + 1));
    expect(r.status).toBe(413);
  });
});

describe('CSR bounds', () => {
  it('still parses a real CSR', async () => {
    const csr = await makeCsr(await makeRequester('RSA'), 'RSA');
    expect((await parseCsr(csr)).signatureValid).toBe(true);
  });

  it('refuses a CSR larger than 64 KiB before parsing it', async () => {
    const big = flood(40_000); // 80 kB of well-formed DER
    await expect(parseCsr(big)).rejects.toThrow(new CsrParseError(`PKCS#10 request larger than ${SCEP_LIMITS.maxCsrBytes} bytes`));
  });

  it('refuses a CSR nested deeper than 32 at the reader', async () => {
    const deep = new Uint8Array([...Array(40).keys()].reduceRight<number[]>((inner) => [0x30, inner.length, ...inner], [0x05, 0x00]));
    const started = performance.now();
    await expect(parseCsr(deep)).rejects.toThrow(/nesting depth exceeded/);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
