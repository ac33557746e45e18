import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeGetMessageParam, readPkiMessage, ScepMessageError, writePkiRequest } from '../../src/scep/codec/index.js';
import { CsrParseError, parseCsr } from '../../src/x509/csr-parser.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { makeCsr, makeRequester, makeTestPki, type TestIdentity } from '../scep/helpers.js';
import { fuzzOptions, PER_INPUT_MS } from './fuzz-runs.js';

// Property-based tests of the SCEP codec and the CSR parser: whatever the
// bytes, readPkiMessage gives a message or a ScepMessageError, parseCsr gives
// CsrInfo or a CsrParseError, decodeGetMessageParam gives bytes or a
// ScepMessageError, each quickly; the real PKIOperation route answers 200
// (a CertRep) or 400, never a 5xx. Mutations start from real messages so they
// reach past the first length byte; random payloads are enveloped and
// signed properly, so they reach the payload reader behind the signature.

let ra: TestIdentity;
let requester: TestIdentity;
let pkcsReq: Uint8Array;
let csrRsa: Uint8Array;
let csrEc: Uint8Array;

beforeAll(async () => {
  ({ ra } = await makeTestPki());
  requester = await makeRequester('RSA');
  csrRsa = await makeCsr(requester, 'RSA');
  csrEc = await makeCsr(await makeRequester('EC'), 'EC');
  pkcsReq = await writePkiRequest({ messageType: 'PKCSReq', csr: csrRsa, transactionId: 'fuzz-1', signer: requester, recipient: ra.certificate, cipher: 'aes-256-cbc', digest: 'sha256' });
});

/** `base` with a few bytes replaced, inserted or cut off. */
function mutated(base: () => Uint8Array): fc.Arbitrary<Uint8Array> {
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

/** Bytes that look like BER: a few tags and lengths (short, long, indefinite) around random content. */
const berish: fc.Arbitrary<Uint8Array> = fc
  .array(fc.oneof(fc.constantFrom(0x30, 0x31, 0x02, 0x04, 0x05, 0x06, 0x0c, 0x13, 0xa0, 0xa1, 0x80, 0x81, 0x82, 0x00, 0x24, 0x03), fc.integer({ min: 0, max: 255 })), { maxLength: 120 })
  .map((b) => new Uint8Array(b));

async function expectScepOutcome(der: Uint8Array): Promise<void> {
  const started = performance.now();
  try {
    const msg = await readPkiMessage(der, ra);
    expect(msg.transactionId).toBeTypeOf('string');
  } catch (e) {
    expect(e).toBeInstanceOf(ScepMessageError);
  }
  expect(performance.now() - started).toBeLessThan(PER_INPUT_MS);
}

async function expectCsrOutcome(der: Uint8Array): Promise<void> {
  const started = performance.now();
  try {
    const info = await parseCsr(der);
    expect(typeof info.signatureValid).toBe('boolean');
  } catch (e) {
    expect(e).toBeInstanceOf(CsrParseError);
  }
  expect(performance.now() - started).toBeLessThan(PER_INPUT_MS);
}

describe('SCEP codec fuzzing', () => {
  it('the unmutated request reads (the properties below are not vacuous)', async () => {
    expect((await readPkiMessage(pkcsReq, ra)).payload).toEqual({ type: 'PKCSReq', csr: csrRsa });
  });

  it('mutated pkiMessages: a message or ScepMessageError', async () => {
    await fc.assert(fc.asyncProperty(mutated(() => pkcsReq), expectScepOutcome), fuzzOptions(150));
  });

  it('arbitrary and BER-looking bytes: ScepMessageError', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 300 }), berish), expectScepOutcome), fuzzOptions(150));
  });

  it('properly signed and enveloped random payloads reach the payload reader: a message or ScepMessageError', async () => {
    const payload = fc.oneof(berish, mutated(() => csrRsa));
    await fc.assert(
      fc.asyncProperty(payload, fc.constantFrom('PKCSReq', 'RenewalReq', 'CertPoll', 'GetCert'), async (bytes, messageType) => {
        const base = { transactionId: 'fuzz-2', signer: requester, recipient: ra.certificate, cipher: 'aes-128-cbc' as const, digest: 'sha256' as const };
        const der =
          messageType === 'CertPoll'
            ? await writePkiRequest({ ...base, messageType, issuerAndSubject: { issuer: bytes, subject: bytes } })
            : messageType === 'GetCert'
              ? await writePkiRequest({ ...base, messageType, issuerAndSerial: { issuer: bytes, serialNumber: bytes } })
              : await writePkiRequest({ ...base, messageType, csr: bytes });
        await expectScepOutcome(der);
      }),
      fuzzOptions(60),
    );
  });

  it('regression (found by fuzzing, seed 960867965): a payload asn1js throws on (GeneralizedTime 0x18) is a ScepMessageError', async () => {
    const der = await writePkiRequest({ messageType: 'GetCert', issuerAndSerial: { issuer: new Uint8Array([0x18]), serialNumber: new Uint8Array([0x18]) }, transactionId: 'fuzz-3', signer: requester, recipient: ra.certificate, cipher: 'aes-128-cbc', digest: 'sha256' });
    await expect(readPkiMessage(der, ra)).rejects.toMatchObject({ name: 'ScepMessageError', code: 'DECRYPTION_FAILED' });
  });

  it('GET message= parameters: bytes or ScepMessageError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.base64String({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 100 })), (s) => {
        try {
          expect(decodeGetMessageParam(s).length).toBeGreaterThan(0);
        } catch (e) {
          expect(e).toBeInstanceOf(ScepMessageError);
        }
      }),
      fuzzOptions(300),
    );
  });
});

describe('CSR parser fuzzing', () => {
  it('the unmutated CSRs parse', async () => {
    expect((await parseCsr(csrRsa)).signatureValid).toBe(true);
    expect((await parseCsr(csrEc)).publicKey.algorithm).toBe('EC');
  });

  it('mutated RSA and EC CSRs: CsrInfo or CsrParseError', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(mutated(() => csrRsa), mutated(() => csrEc)), expectCsrOutcome), fuzzOptions(200));
  });

  it('arbitrary and BER-looking bytes: CsrParseError', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 300 }), berish), expectCsrOutcome), fuzzOptions(200));
  });
});

describe('through the PKIOperation route', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('regression (found by fuzzing): that payload gets a signed CertRep FAILURE (200), not a 500', async () => {
    const der = await writePkiRequest({ messageType: 'GetCert', issuerAndSerial: { issuer: new Uint8Array([0x18]), serialNumber: new Uint8Array([0x18]) }, transactionId: 'fuzz-4', signer: requester, recipient: t.gw.ra.certificate, cipher: 'aes-128-cbc', digest: 'sha256' });
    const res = await fetch(`${t.scepUrl}?operation=PKIOperation`, { method: 'POST', body: der });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-pki-message');
  });

  it('any body gets a CertRep (200) or 400, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated(() => pkcsReq), berish), async (body) => {
        const res = await fetch(`${t.scepUrl}?operation=PKIOperation`, { method: 'POST', body });
        await res.arrayBuffer();
        expect([200, 400]).toContain(res.status);
      }),
      fuzzOptions(40),
    );
  });
});
