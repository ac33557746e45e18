// readPkiMessage: the real micromdm scepclient request, client round trips for
// every cipher/digest/key type, BER input, unsorted attributes, and the error
// contract (which reason code, and whether a reply context is known).

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readPkiMessage, replyCipher, ScepMessageError, writePkiRequest } from '../../src/scep/codec/index.js';
import type { ContentCipher } from '../../src/scep/codec/index.js';
import { readSignedData, writeSignedData } from '../../src/scep/codec/signed-data.js';
import { sealEnvelope } from '../../src/scep/codec/enveloped-data.js';
import { scepAttribute } from '../../src/scep/codec/scep-attributes.js';
import { sortDer } from '../../src/x509/asn1/der.js';
import type { HashName, KeyedCertificate } from '../../src/x509/keys.js';
import { softwareKey } from '../../src/x509/software-key.js';
import {
  berify,
  berPkiMessage,
  FIXTURES,
  fixture,
  hex,
  makeCsr,
  makeRequester,
  makeTestPki,
  parseForBer,
  type TestIdentity,
} from './helpers.js';

/** XORs one byte in place (noUncheckedIndexedAccess-friendly). */
const flip = (bytes: Uint8Array, at: number, mask: number): void => {
  bytes[at] = (bytes[at] as number) ^ mask;
};

const fixtureRa = (): KeyedCertificate => ({
  certificate: new Uint8Array(new X509Certificate(readFileSync(FIXTURES + 'throwaway-scep-ca.pem')).raw),
  key: softwareKey(createPrivateKey(readFileSync(FIXTURES + 'throwaway-scep-ca.key'))),
});

/** Runs fn and returns the ScepMessageError it throws (fails the test otherwise). */
async function scepError(fn: () => Promise<unknown>): Promise<ScepMessageError> {
  try {
    await fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ScepMessageError);
    return e as ScepMessageError;
  }
  throw new Error('expected a ScepMessageError, got success');
}

/** The signed attributes' element encodings, in transmitted order. */
function signedAttributeOrder(der: Uint8Array): Uint8Array[] {
  const signer = readSignedData(der).signerInfos[0]!;
  const node = parseForBer(signer.signedAttributesBytes);
  return (node.valueBlock.value ?? []).map((c) => c.valueBeforeDecodeView.slice());
}

describe('the micromdm scepclient PKCSReq fixture', () => {
  it('verifies, decrypts the DES-CBC envelope and yields the CSR with challenge s3cr3t', async () => {
    const msg = await readPkiMessage(fixture('pkcsreq-micromdm-scepclient.der'), fixtureRa());
    expect(msg.messageType).toBe('PKCSReq');
    expect(msg.transactionId).toBe('F0s8nICIz30qJw/SHFxrxPpUmb0=');
    expect(msg.digest).toBe('sha1');
    expect(msg.cipher).toBe('des-cbc');
    expect(hex(msg.senderNonce)).toBe('331fc44d3692849a58e20694d89dfeac');
    expect(new X509Certificate(msg.signerCertificate).subject).toContain('CN=SCEP SIGNER');
    expect(msg.payload.type).toBe('PKCSReq');
    if (msg.payload.type !== 'PKCSReq') return;
    const csr = new x509.Pkcs10CertificateRequest(msg.payload.csr);
    expect(await csr.verify()).toBe(true);
    const challenge = csr.getAttribute('1.2.840.113549.1.9.7');
    expect(challenge).toBeInstanceOf(x509.ChallengePasswordAttribute);
    expect((challenge as x509.ChallengePasswordAttribute).password).toBe('s3cr3t');
    // The reply context points back at the requester and upgrades single DES.
    expect(msg.reply).toMatchObject({ transactionId: msg.transactionId, digest: 'sha1', cipher: 'des-cbc' });
    expect(msg.reply.recipient).toEqual(msg.signerCertificate);
    expect(replyCipher(msg.reply.cipher)).toBe('des-ede3-cbc');
  });

  it('is read in BER form (indefinite lengths, chunked eContent)', async () => {
    const der = fixture('pkcsreq-micromdm-scepclient.der');
    const ber = berPkiMessage(der);
    expect(ber[1]).toBe(0x80); // outer SEQUENCE is indefinite-length
    expect(hex(ber)).not.toBe(hex(der));
    const msg = await readPkiMessage(ber, fixtureRa());
    expect(msg.transactionId).toBe('F0s8nICIz30qJw/SHFxrxPpUmb0=');
    expect(msg.cipher).toBe('des-cbc');
  });

  it('rejects the fixture when the RA certificate is not the recipient', async () => {
    const { ra } = await makeTestPki();
    const err = await scepError(() => readPkiMessage(fixture('pkcsreq-micromdm-scepclient.der'), ra));
    expect(err.code).toBe('DECRYPTION_FAILED');
    expect(err.context?.transactionId).toBe('F0s8nICIz30qJw/SHFxrxPpUmb0=');
  });
});

describe('client round trips', () => {
  let ra: TestIdentity;
  let otherRa: TestIdentity;
  const requesters: Record<'RSA' | 'EC', { id: TestIdentity; csr: Uint8Array }> = {} as never;

  beforeAll(async () => {
    ({ ra } = await makeTestPki());
    ({ ra: otherRa } = await makeTestPki());
    for (const kind of ['RSA', 'EC'] as const) {
      const id = await makeRequester(kind);
      requesters[kind] = { id, csr: await makeCsr(id, kind) };
    }
  });

  const ciphers: ContentCipher[] = ['aes-128-cbc', 'aes-192-cbc', 'aes-256-cbc', 'des-ede3-cbc', 'des-cbc'];
  const digests: HashName[] = ['sha1', 'sha256', 'sha384', 'sha512'];
  const cases = (['RSA', 'EC'] as const).flatMap((kind) =>
    ciphers.flatMap((cipher) => digests.map((digest) => ({ kind, cipher, digest }))),
  );

  it.each(cases)('PKCSReq signed by $kind with $digest, encrypted with $cipher', async ({ kind, cipher, digest }) => {
    const { id, csr } = requesters[kind];
    const senderNonce = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
    const der = await writePkiRequest({
      messageType: 'PKCSReq',
      csr,
      transactionId: `tx-${kind}-${cipher}-${digest}`,
      signer: id,
      recipient: ra.certificate,
      cipher,
      digest,
      senderNonce,
    });
    const msg = await readPkiMessage(der, ra);
    expect(msg.messageType).toBe('PKCSReq');
    expect(msg.transactionId).toBe(`tx-${kind}-${cipher}-${digest}`);
    expect(msg.digest).toBe(digest);
    expect(msg.cipher).toBe(cipher);
    expect(msg.senderNonce).toEqual(senderNonce);
    expect(msg.signerCertificate).toEqual(id.certificate);
    expect(msg.payload).toEqual({ type: 'PKCSReq', csr });
  });

  it('RenewalReq, CertPoll, GetCert and GetCRL payloads come back typed', async () => {
    const { id, csr } = requesters.RSA;
    const base = { transactionId: 'tx-types', signer: id, recipient: ra.certificate, cipher: 'aes-256-cbc', digest: 'sha256' } as const;
    const caName = new x509.Name('CN=Codec Test CA').toArrayBuffer();
    const subject = new x509.Name('CN=device-1').toArrayBuffer();
    const issuer = new Uint8Array(caName);

    const renewal = await readPkiMessage(await writePkiRequest({ ...base, messageType: 'RenewalReq', csr }), ra);
    expect(renewal.payload).toEqual({ type: 'RenewalReq', csr });

    const poll = await readPkiMessage(
      await writePkiRequest({ ...base, messageType: 'CertPoll', issuerAndSubject: { issuer, subject: new Uint8Array(subject) } }),
      ra,
    );
    expect(poll.payload).toEqual({ type: 'CertPoll', issuer, subject: new Uint8Array(subject) });

    const serialNumber = Uint8Array.of(0x00, 0x9c, 0x01);
    const get = await readPkiMessage(await writePkiRequest({ ...base, messageType: 'GetCert', issuerAndSerial: { issuer, serialNumber } }), ra);
    expect(get.payload).toEqual({ type: 'GetCert', issuer, serialNumber });
    expect(get.messageType).toBe('GetCert');

    const crl = await readPkiMessage(await writePkiRequest({ ...base, messageType: 'GetCRL', issuerAndSerial: { issuer, serialNumber } }), ra);
    expect(crl.payload).toEqual({ type: 'GetCRL', issuer, serialNumber });
  });

  it('accepts signed attributes that are not in DER order', async () => {
    const { id, csr } = requesters.RSA;
    const der = await writePkiRequest({
      messageType: 'PKCSReq', csr, transactionId: 'tx-unsorted', signer: id, recipient: ra.certificate,
      cipher: 'aes-128-cbc', digest: 'sha256', sortAttributes: false,
    });
    const order = signedAttributeOrder(der);
    expect(order.map(hex)).not.toEqual(sortDer(order).map(hex)); // really unsorted on the wire
    const msg = await readPkiMessage(der, ra);
    expect(msg.transactionId).toBe('tx-unsorted');
  });

  it('reads a request whose envelope and outer structure are BER (Apple style)', async () => {
    const { id, csr } = requesters.RSA;
    // Inner envelope in BER: constructed encryptedContent chunks, indefinite lengths.
    const envelopeBer = berify(parseForBer(sealEnvelope(csr, ra.certificate, 'aes-256-cbc')));
    expect(envelopeBer[1]).toBe(0x80);
    const der = await writeSignedData({
      eContent: envelopeBer,
      certificates: [id.certificate],
      signer: id,
      digest: 'sha256',
      attributes: [scepAttribute.messageType(19), scepAttribute.transactionId('tx-ber'), scepAttribute.senderNonce(new Uint8Array(16).fill(9))],
    });
    const ber = berPkiMessage(der);
    expect(ber[1]).toBe(0x80);
    const msg = await readPkiMessage(ber, ra);
    expect(msg.payload).toEqual({ type: 'PKCSReq', csr });
    expect(msg.cipher).toBe('aes-256-cbc');
  });

  describe('errors', () => {
    const request = (over: Partial<Parameters<typeof writePkiRequest>[0]> = {}) =>
      writePkiRequest({
        messageType: 'PKCSReq', csr: requesters.RSA.csr, transactionId: 'tx-err', signer: requesters.RSA.id,
        recipient: ra.certificate, cipher: 'aes-128-cbc', digest: 'sha256',
        senderNonce: new Uint8Array(16).fill(0xab), ...over,
      } as Parameters<typeof writePkiRequest>[0]);

    it('a flipped signature byte is MESSAGE_SIGNATURE_INVALID with a reply context', async () => {
      const der = await request();
      flip(der, der.length - 20, 0x01); // the RSA signature is the last element of the message
      const err = await scepError(() => readPkiMessage(der, ra));
      expect(err.code).toBe('MESSAGE_SIGNATURE_INVALID');
      expect(err.context).not.toBeNull();
      expect(err.context?.transactionId).toBe('tx-err');
      expect(err.context?.senderNonce).toEqual(new Uint8Array(16).fill(0xab));
      expect(err.context?.recipient).toEqual(requesters.RSA.id.certificate);
    });

    it('an EC signature flipped is MESSAGE_SIGNATURE_INVALID too', async () => {
      const der = await request({ signer: requesters.EC.id });
      flip(der, der.length - 5, 0x40);
      const err = await scepError(() => readPkiMessage(der, ra));
      expect(err.code).toBe('MESSAGE_SIGNATURE_INVALID');
      expect(err.context?.transactionId).toBe('tx-err');
    });

    it('a modified envelope breaks the messageDigest: MESSAGE_SIGNATURE_INVALID', async () => {
      const der = await request();
      const eContent = readSignedData(der).eContent!;
      const at = Buffer.from(der).indexOf(Buffer.from(eContent));
      expect(at).toBeGreaterThan(0);
      flip(der, at + eContent.length - 3, 0xff);
      const err = await scepError(() => readPkiMessage(der, ra));
      expect(err.code).toBe('MESSAGE_SIGNATURE_INVALID');
      expect(err.detail).toMatch(/messageDigest/);
    });

    it('the wrong RA key is DECRYPTION_FAILED every time (implicit rejection, no padding oracle)', async () => {
      const wrongKey = { certificate: ra.certificate, key: otherRa.key };
      const details = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const err = await scepError(async () => readPkiMessage(await request({ transactionId: `tx-wrong-${i}` }), wrongKey));
        expect(err.code).toBe('DECRYPTION_FAILED');
        expect(err.context?.transactionId).toBe(`tx-wrong-${i}`);
        details.add(err.detail);
      }
      expect(details.size).toBe(1);
    });

    it('an envelope for another RA certificate is DECRYPTION_FAILED', async () => {
      const err = await scepError(async () => readPkiMessage(await request({ recipient: otherRa.certificate }), ra));
      expect(err.code).toBe('DECRYPTION_FAILED');
      expect(err.detail).toMatch(/not encrypted to the RA/);
    });

    it('truncated or garbage input is MESSAGE_MALFORMED without context', async () => {
      const der = await request();
      for (const bad of [der.subarray(0, der.length - 1), der.subarray(0, der.length >> 1), der.subarray(0, 10), new Uint8Array(0), Uint8Array.of(1, 2, 3), new TextEncoder().encode('hello')]) {
        const err = await scepError(() => readPkiMessage(bad, ra));
        expect(err.code).toBe('MESSAGE_MALFORMED');
        expect(err.context).toBeNull();
      }
    });

    it('a truncated BER (indefinite-length) message is MESSAGE_MALFORMED without context', async () => {
      const ber = berPkiMessage(await request());
      const err = await scepError(() => readPkiMessage(ber.subarray(0, ber.length - 2), ra));
      expect(err.code).toBe('MESSAGE_MALFORMED');
      expect(err.context).toBeNull();
    });

    it('a valid signature with trailing bytes appended is MESSAGE_MALFORMED', async () => {
      const der = await request();
      const err = await scepError(() => readPkiMessage(Uint8Array.from([...der, 0]), ra));
      expect(err.code).toBe('MESSAGE_MALFORMED');
    });

    it('unknown messageTypes (and CertRep) are UNSUPPORTED_MESSAGE_TYPE with context', async () => {
      for (const n of [3, 99, 23]) {
        const err = await scepError(async () => readPkiMessage(await request({ messageTypeNumber: n }), ra));
        expect(err.code).toBe('UNSUPPORTED_MESSAGE_TYPE');
        expect(err.context?.transactionId).toBe('tx-err');
      }
    });

    it('a GetCRL whose payload is not an IssuerAndSerialNumber is DECRYPTION_FAILED (badMessageCheck), with context', async () => {
      const err = await scepError(async () => readPkiMessage(await request({ messageTypeNumber: 22 }), ra));
      expect(err.code).toBe('DECRYPTION_FAILED');
      expect(err.context?.transactionId).toBe('tx-err');
    });

    it('an unparsable payload after decryption is DECRYPTION_FAILED, like a wrong key', async () => {
      // A "CSR" that is not PKCS#10: indistinguishable from a bad key by design.
      const err = await scepError(async () => readPkiMessage(await request({ csr: Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01) }), ra));
      expect(err.code).toBe('DECRYPTION_FAILED');
    });
  });
});
