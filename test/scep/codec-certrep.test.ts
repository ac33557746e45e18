// writeCertRep / readCertRep: round trips for every status, algorithm
// mirroring, DER attribute order, OpenSSL as an independent verifier, and the
// CertRep fixtures (micromdm, pkijs, the broken node-forge one).

import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  readCertRep,
  readPkiMessage,
  ScepMessageError,
  verifyCertRep,
  writeCertRep,
  writePkiRequest,
  type ContentCipher,
  type PkiMessage,
} from '../../src/scep/codec/index.js';
import { digestFromOid } from '../../src/scep/codec/algorithms.js';
import { sortDer } from '../../src/x509/asn1/der.js';
import { openEnvelope, readEnvelope } from '../../src/scep/codec/enveloped-data.js';
import { buildCrl } from '../../src/ca/crl.js';
import { readCertificate } from '../../src/x509/cert-raw.js';
import { readSignedData } from '../../src/scep/codec/signed-data.js';
import type { HashName } from '../../src/x509/keys.js';
import { softwareKey } from '../../src/x509/software-key.js';
import { FIXTURES, fixture, hex, issue, makeCsr, makeRequester, makeTestPki, openssl, removeTempDirs, parseForBer, pem, type TestIdentity } from './helpers.js';

/** XORs one byte in place (noUncheckedIndexedAccess-friendly). */
const flip = (bytes: Uint8Array, at: number, mask: number): void => {
  bytes[at] = (bytes[at] as number) ^ mask;
};

afterAll(removeTempDirs);

let ca: TestIdentity;
let ra: TestIdentity;
let device: TestIdentity;
let issued: Uint8Array;

beforeAll(async () => {
  ({ ca, ra } = await makeTestPki());
  device = await makeRequester('RSA');
  issued = await issue(ca, device.keys.publicKey);
});

async function request(cipher: ContentCipher = 'aes-256-cbc', digest: HashName = 'sha256', signer = device): Promise<PkiMessage> {
  const der = await writePkiRequest({
    messageType: 'PKCSReq', csr: await makeCsr(signer, signer.key.algorithm), transactionId: `tx-${cipher}-${digest}`,
    signer, recipient: ra.certificate, cipher, digest,
  });
  return readPkiMessage(der, ra);
}

async function thrown(fn: () => Promise<unknown>): Promise<ScepMessageError> {
  try {
    await fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ScepMessageError);
    return e as ScepMessageError;
  }
  throw new Error('expected a ScepMessageError');
}

/** `openssl cms -cmsout -print` signed attributes: OID -> value text. */
function printedAttributes(der: Uint8Array): Map<string, string> {
  const out = openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', 'rep.der'], { 'rep.der': der });
  expect(out.status).toBe(0);
  const attrs = new Map<string, string>();
  const section = out.stdout.slice(out.stdout.indexOf('signedAttrs:'), out.stdout.indexOf('signatureAlgorithm:', out.stdout.indexOf('signedAttrs:')));
  for (const block of section.split(/\n\s*object: /).slice(1)) {
    const oid = /\(([\d.]+)\)/.exec(block)?.[1] ?? '';
    attrs.set(oid, block.slice(block.indexOf('set:') + 4).trim());
  }
  return attrs;
}

describe('CertRep round trips through readCertRep', () => {
  it('SUCCESS: the issued certificate and chain come back, in order, decrypted by the requester', async () => {
    const msg = await request();
    const der = await writeCertRep({ reply: msg.reply, status: 'SUCCESS', certificates: [issued, ca.certificate], signer: ra, chain: [ca.certificate] });
    const rep = await readCertRep(der, device, ra.certificate);
    expect(rep.status).toBe('SUCCESS');
    expect(rep.certificates).toEqual([issued, ca.certificate]);
    expect(rep.transactionId).toBe(msg.transactionId);
    expect(rep.recipientNonce).toEqual(msg.senderNonce);
    expect(rep.senderNonce).toHaveLength(16);
    expect(hex(rep.senderNonce)).not.toBe(hex(msg.senderNonce));
    expect(rep.failInfo).toBeUndefined();
    // Outer certificates: RA first, then the chain.
    expect(readSignedData(der).certificates).toEqual([ra.certificate, ca.certificate]);
  });

  it('SUCCESS for GetCRL: the CRL travels in crls of the enveloped degenerate SignedData (no certificates); OpenSSL reads it', async () => {
    const msg = await request();
    const crl = await buildCrl({
      issuerName: readCertificate(ca.certificate).subjectName,
      authorityKeyId: Uint8Array.of(1, 2, 3, 4),
      crlNumber: 7,
      thisUpdate: new Date('2026-12-01T00:00:00Z'),
      nextUpdate: new Date('2026-12-02T00:00:00Z'),
      entries: [{ serialNumber: '0badcafe', revokedAt: new Date('2026-11-30T00:00:00Z'), reason: 'keyCompromise' }],
      signer: ca.key,
    });
    const der = await writeCertRep({ reply: msg.reply, status: 'SUCCESS', crls: [crl], signer: ra, chain: [ca.certificate] });
    const rep = await readCertRep(der, device, ra.certificate);
    expect(rep.status).toBe('SUCCESS');
    expect(rep.certificates).toEqual([]);
    expect(rep.crls).toEqual([crl]);
    const inner = openEnvelope(readEnvelope(readSignedData(der).eContent!), device).content;
    const printed = openssl(['pkcs7', '-inform', 'DER', '-in', 'inner.der', '-print_certs', '-text', '-noout'], { 'inner.der': inner });
    expect(printed.status).toBe(0);
    expect(printed.stdout).toContain('Certificate Revocation List (CRL)');
    expect(printed.stdout).toContain('Serial Number: 0BADCAFE');
    expect(printed.stdout).not.toContain('Certificate:\n');
    await expect(writeCertRep({ reply: msg.reply, status: 'SUCCESS', crls: [], signer: ra })).rejects.toThrow(/certificate or the CRL/);
  });

  it('FAILURE carries failInfo and failInfoText and no content', async () => {
    const msg = await request();
    const der = await writeCertRep({
      reply: msg.reply, status: 'FAILURE', failInfo: 'badMessageCheck',
      failInfoText: 'CHALLENGE_BAD_SIGNATURE: the challenge signature does not verify', signer: ra,
    });
    expect(readSignedData(der).eContent).toBeNull();
    const rep = await readCertRep(der, device, ra.certificate);
    expect(rep).toMatchObject({ status: 'FAILURE', failInfo: 'badMessageCheck', transactionId: msg.transactionId });
    expect(rep.failInfoText).toBe('CHALLENGE_BAD_SIGNATURE: the challenge signature does not verify');
    expect(rep.recipientNonce).toEqual(msg.senderNonce);
    expect(rep.certificates).toEqual([]);
  });

  it('FAILURE without failInfo defaults to badRequest', async () => {
    const msg = await request();
    const rep = await readCertRep(await writeCertRep({ reply: msg.reply, status: 'FAILURE', signer: ra }), device, ra.certificate);
    expect(rep.failInfo).toBe('badRequest');
    expect(rep.failInfoText).toBeUndefined();
  });

  it('PENDING has no failInfo and no content', async () => {
    const msg = await request();
    const der = await writeCertRep({ reply: msg.reply, status: 'PENDING', signer: ra });
    const rep = await readCertRep(der, device, ra.certificate);
    expect(rep.status).toBe('PENDING');
    expect(rep.failInfo).toBeUndefined();
    expect(readSignedData(der).signerInfos[0]!.signedAttributes.map((a) => a.oid)).not.toContain('2.16.840.1.113733.1.9.4');
  });

  it('a CertRep read with the wrong RA certificate or tampered is MESSAGE_SIGNATURE_INVALID', async () => {
    const msg = await request();
    const der = await writeCertRep({ reply: msg.reply, status: 'PENDING', signer: ra });
    expect((await thrown(() => readCertRep(der, device, ca.certificate))).code).toBe('MESSAGE_SIGNATURE_INVALID');
    const tampered = der.slice();
    flip(tampered, tampered.length - 30, 1);
    expect((await thrown(() => readCertRep(tampered, device, ra.certificate))).code).toBe('MESSAGE_SIGNATURE_INVALID');
  });

  it('signed attributes are in DER SET OF order', async () => {
    const msg = await request();
    const der = await writeCertRep({ reply: msg.reply, status: 'FAILURE', failInfo: 'badRequest', failInfoText: 'x', signer: ra });
    const bytes = readSignedData(der).signerInfos[0]!.signedAttributesBytes;
    const order = (parseForBer(bytes).valueBlock.value ?? []).map((c) => hex(c.valueBeforeDecodeView));
    expect(order).toHaveLength(10); // contentType, signingTime, messageDigest + 7 SCEP attributes
    expect(order).toEqual(sortDer(order.map((h) => new Uint8Array(Buffer.from(h, 'hex')))).map(hex));
  });
});

describe('algorithm choice mirrors the request', () => {
  const cases: Array<{ cipher: ContentCipher; digest: HashName; replyCipher: ContentCipher }> = [
    { cipher: 'aes-128-cbc', digest: 'sha1', replyCipher: 'aes-128-cbc' },
    { cipher: 'aes-192-cbc', digest: 'sha256', replyCipher: 'aes-192-cbc' },
    { cipher: 'aes-256-cbc', digest: 'sha512', replyCipher: 'aes-256-cbc' },
    { cipher: 'des-ede3-cbc', digest: 'sha384', replyCipher: 'des-ede3-cbc' },
    { cipher: 'des-cbc', digest: 'sha1', replyCipher: 'des-ede3-cbc' },
  ];
  it.each(cases)('request $cipher/$digest -> reply $replyCipher/$digest', async ({ cipher, digest, replyCipher }) => {
    const msg = await request(cipher, digest);
    const der = await writeCertRep({ reply: msg.reply, status: 'SUCCESS', certificates: [issued], signer: ra });
    const sd = readSignedData(der);
    expect(digestFromOid(sd.signerInfos[0]!.digestOid)).toBe(digest);
    expect(readEnvelope(sd.eContent!).cipher).toBe(replyCipher);
    expect((await readCertRep(der, device, ra.certificate)).certificates).toEqual([issued]);
  });

  it('SUCCESS to an EC requester is refused as UNSUPPORTED_ALGORITHM with the reply context', async () => {
    const ecDevice = await makeRequester('EC');
    const msg = await request('aes-128-cbc', 'sha256', ecDevice);
    const err = await thrown(() => writeCertRep({ reply: msg.reply, status: 'SUCCESS', certificates: [issued], signer: ra }));
    expect(err.code).toBe('UNSUPPORTED_ALGORITHM');
    expect(err.context?.transactionId).toBe(msg.transactionId);
    // ...and the FAILURE answer to the same EC requester works.
    const failure = await writeCertRep({ reply: msg.reply, status: 'FAILURE', failInfo: 'badAlg', signer: ra });
    expect((await readCertRep(failure, ecDevice, ra.certificate)).failInfo).toBe('badAlg');
  });
});

describe('OpenSSL verifies our CertReps', () => {
  const verify = (der: Uint8Array, caCert: Uint8Array, extra: string[] = []) =>
    openssl(['cms', '-verify', '-inform', 'DER', '-in', 'rep.der', '-CAfile', 'ca.pem', '-out', 'content.bin', ...extra], {
      'rep.der': der,
      'ca.pem': pem(caCert),
    });

  it('SUCCESS verifies against the CA (no -purpose any) and the content is our envelope', async () => {
    const msg = await request();
    const der = await writeCertRep({ reply: msg.reply, status: 'SUCCESS', certificates: [issued, ca.certificate], signer: ra, chain: [ca.certificate] });
    const result = verify(der, ca.certificate);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(new Uint8Array(readFileSync(result.dir + '/content.bin'))).toEqual(readSignedData(der).eContent);
    // Negative control: another CA must not verify it.
    const other = await makeTestPki();
    expect(verify(der, other.ca.certificate).status).not.toBe(0);
  });

  it('FAILURE (eContent absent) verifies as a signature over empty detached content', async () => {
    const msg = await request();
    const der = await writeCertRep({ reply: msg.reply, status: 'FAILURE', failInfo: 'badRequest', failInfoText: 'POLICY_DENIED: no', signer: ra });
    // Absent eContent = detached signature: OpenSSL wants the (empty) content supplied.
    expect(verify(der, ca.certificate).stderr).toMatch(/no content/);
    const result = verify(der, ca.certificate, ['-content', '/dev/null']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it("FAILURE with emptyContent 'empty' verifies with plain openssl cms -verify", async () => {
    const msg = await request();
    const der = await writeCertRep({ reply: msg.reply, status: 'PENDING', signer: ra, emptyContent: 'empty' });
    expect(readSignedData(der).eContent).toEqual(new Uint8Array(0));
    const result = verify(der, ca.certificate);
    expect(result.status).toBe(0);
    expect((await readCertRep(der, device, ra.certificate)).status).toBe('PENDING');
  });

  it('cms -print shows every SCEP attribute with a value', async () => {
    const msg = await request();
    const success = printedAttributes(await writeCertRep({ reply: msg.reply, status: 'SUCCESS', certificates: [issued], signer: ra }));
    expect(success.get('2.16.840.1.113733.1.9.2')).toBe('PRINTABLESTRING:3');
    expect(success.get('2.16.840.1.113733.1.9.3')).toBe('PRINTABLESTRING:0');
    expect(success.get('2.16.840.1.113733.1.9.7')).toBe(`PRINTABLESTRING:${msg.transactionId}`);
    expect(success.get('2.16.840.1.113733.1.9.5')).toMatch(/^OCTET STRING:\s*\n\s*0000 - /);
    expect(success.get('2.16.840.1.113733.1.9.6')).toMatch(/^OCTET STRING:\s*\n\s*0000 - /);
    expect(success.get('2.16.840.1.113733.1.9.6')!.replace(/[^0-9a-f -]/g, '')).toContain(
      [...msg.senderNonce.slice(0, 3)].map((b) => b.toString(16).padStart(2, '0')).join(' '),
    );
    expect(success.has('2.16.840.1.113733.1.9.4')).toBe(false);

    const failure = printedAttributes(
      await writeCertRep({ reply: msg.reply, status: 'FAILURE', failInfo: 'badTime', failInfoText: 'CHALLENGE_EXPIRED: too late', signer: ra }),
    );
    expect(failure.get('2.16.840.1.113733.1.9.3')).toBe('PRINTABLESTRING:2');
    expect(failure.get('2.16.840.1.113733.1.9.4')).toBe('PRINTABLESTRING:3');
    expect(failure.get('1.3.6.1.5.5.7.24.1')).toBe('UTF8STRING:CHALLENGE_EXPIRED: too late');
    for (const value of failure.values()) expect(value).not.toMatch(/EMPTY/);
  });
});

describe('CertRep fixtures', () => {
  const caCert = () => new Uint8Array(Buffer.from(readFileSync(FIXTURES + 'throwaway-scep-ca.pem', 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64'));
  let requester: { certificate: Uint8Array; key: ReturnType<typeof softwareKey> };

  beforeAll(() => {
    // The scepclient request's self-signed certificate and its key.
    requester = {
      certificate: readSignedData(fixture('pkcsreq-micromdm-scepclient.der')).certificates[0]!,
      key: softwareKey(createPrivateKey(readFileSync(FIXTURES + 'throwaway-client.key'))),
    };
  });

  it("micromdm scepserver's CertRep verifies and decrypts to the issued certificate", async () => {
    const rep = await readCertRep(fixture('certrep-micromdm-scepserver.der'), requester, caCert());
    expect(rep.status).toBe('SUCCESS');
    expect(rep.transactionId).toBe('F0s8nICIz30qJw/SHFxrxPpUmb0=');
    expect(hex(rep.recipientNonce)).toBe('331fc44d3692849a58e20694d89dfeac');
    expect(rep.certificates).toHaveLength(1);
  });

  it('certrep-pkijs.der verifies with all SCEP attributes (its eContent is a 3-byte placeholder, not an envelope)', async () => {
    const header = verifyCertRep(fixture('certrep-pkijs.der'), caCert());
    expect(header.status).toBe('SUCCESS');
    expect(header.transactionId).toBe('F0s8nICIz30qJw/SHFxrxPpUmb0=');
    expect(header.recipientNonce.length).toBeGreaterThan(0);
    expect(readSignedData(fixture('certrep-pkijs.der')).eContent).toEqual(Uint8Array.of(1, 2, 3));
    expect((await thrown(() => readCertRep(fixture('certrep-pkijs.der'), requester, caCert()))).code).toBe('MESSAGE_MALFORMED');
  });

  it('the node-forge CertRep with empty attribute SETs is rejected', async () => {
    const err = await thrown(async () => verifyCertRep(fixture('certrep-forge-naive.der'), caCert()));
    expect(err.code).toBe('MESSAGE_MALFORMED');
    expect(err.detail).toMatch(/messageType has 0 values/);
    expect((await thrown(() => readCertRep(fixture('certrep-forge-naive.der'), requester, caCert()))).code).toBe('MESSAGE_MALFORMED');
  });
});
