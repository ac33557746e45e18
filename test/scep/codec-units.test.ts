// Smaller codec pieces: GET message parameter decoding, certs-only SignedData,
// the constant-time PKCS#1 unpadding, certificate identifiers, softwareKey.

import { constants, createPublicKey, generateKeyPairSync, publicEncrypt, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeGetMessageParam, readCertsOnly, ScepMessageError, writeCertsOnly } from '../../src/scep/codec/index.js';
import { readCmsCertificate, issuerAndSerialNumber } from '../../src/scep/codec/cms-certificate.js';
import { unpadKeyTransport } from '../../src/scep/codec/pkcs1-unpad.js';
import { softwareKey } from '../../src/x509/software-key.js';
import { fixture, hex, makeTestPki, openssl, removeTempDirs, type TestIdentity } from './helpers.js';

afterAll(removeTempDirs);

describe('decodeGetMessageParam', () => {
  const bytes = new Uint8Array(Array.from({ length: 200 }, (_, i) => (i * 37 + 11) & 0xff));
  const b64 = Buffer.from(bytes).toString('base64');

  it('plain base64 containing + and /', () => {
    expect(b64).toMatch(/[+/]/);
    expect(decodeGetMessageParam(b64)).toEqual(bytes);
  });
  it('URL-encoded once or twice', () => {
    expect(decodeGetMessageParam(encodeURIComponent(b64))).toEqual(bytes);
    expect(decodeGetMessageParam(encodeURIComponent(encodeURIComponent(b64)))).toEqual(bytes);
  });
  it("unescaped '+' that a query parser turned into spaces", () => {
    expect(decodeGetMessageParam(b64.replace(/\+/g, ' '))).toEqual(bytes);
  });
  it('line breaks (64-column wrapping, CRLF or LF, also URL-encoded)', () => {
    const wrapped = b64.match(/.{1,64}/g)!.join('\n');
    expect(decodeGetMessageParam(wrapped)).toEqual(bytes);
    expect(decodeGetMessageParam(b64.match(/.{1,64}/g)!.join('\r\n'))).toEqual(bytes);
    expect(decodeGetMessageParam(encodeURIComponent(wrapped + '\n'))).toEqual(bytes);
  });
  it('missing padding and base64url', () => {
    const odd = new Uint8Array([1, 2, 3, 4]); // AQIDBA==
    expect(decodeGetMessageParam('AQIDBA')).toEqual(odd);
    expect(decodeGetMessageParam(Buffer.from(bytes).toString('base64url'))).toEqual(bytes);
  });
  it.each(['', '\r\n', '!!!!', 'AQIDB', 'abc$def', '%E0%A4%A', '<html>'])('refuses %j as MESSAGE_MALFORMED without context', (raw) => {
    let error: unknown;
    try {
      decodeGetMessageParam(raw);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ScepMessageError);
    expect((error as ScepMessageError).code).toBe('MESSAGE_MALFORMED');
    expect((error as ScepMessageError).context).toBeNull();
  });
});

describe('certs-only SignedData', () => {
  let ca: TestIdentity;
  let ra: TestIdentity;
  beforeAll(async () => ({ ca, ra } = await makeTestPki()));

  it('round trips CA + RA in the given order, and OpenSSL lists both', () => {
    const der = writeCertsOnly([ca.certificate, ra.certificate]);
    expect(readCertsOnly(der)).toEqual([ca.certificate, ra.certificate]);
    expect(readCertsOnly(writeCertsOnly([ra.certificate, ca.certificate]))).toEqual([ra.certificate, ca.certificate]);
    const printed = openssl(['pkcs7', '-inform', 'DER', '-in', 'p7.der', '-print_certs', '-noout'], { 'p7.der': der });
    expect(printed.status).toBe(0);
    expect(printed.stdout).toMatch(/subject=.*Codec Test CA[\s\S]*subject=.*Codec Test RA/);
  });

  it('reads certificates from a signed message too, and refuses non-PKCS#7 input', () => {
    expect(readCertsOnly(fixture('pkcsreq-micromdm-scepclient.der'))).toHaveLength(1);
    // micromdm answers GetCACert with a bare certificate when CA == RA.
    expect(() => readCertsOnly(fixture('getcacert-resp.der'))).toThrow(ScepMessageError);
    expect(() => writeCertsOnly([])).toThrow(TypeError);
  });

  it('IssuerAndSerialNumber is built from the exact bytes of the certificate', () => {
    const info = readCmsCertificate(ra.certificate);
    const cert = Buffer.from(ra.certificate);
    expect(cert.indexOf(Buffer.from(info.issuer))).toBeGreaterThan(0);
    expect(cert.indexOf(Buffer.from(info.subject))).toBeGreaterThan(0);
    expect(hex(info.serialNumber)).toBe('1002');
    const ias = issuerAndSerialNumber(info);
    expect(hex(ias)).toContain(hex(info.issuer) + '02021002');
  });
});

describe('unpadKeyTransport (PKCS#1 v1.5 with implicit rejection)', () => {
  const k = 256;
  const cek = new Uint8Array(32).fill(0x5a);
  const good = (): Uint8Array => {
    const em = new Uint8Array(k);
    em[1] = 2;
    em.fill(0x11, 2, k - 33);
    em[k - 33] = 0;
    em.set(cek, k - 32);
    return em;
  };

  it('returns the CEK from a well-formed block', () => {
    expect(unpadKeyTransport(good(), k, 32)).toEqual(cek);
  });
  it('returns the CEK when a token dropped the leading zero octet', () => {
    expect(unpadKeyTransport(good().subarray(1), k, 32)).toEqual(cek);
  });
  it.each([
    ['first byte not 0', (em: Uint8Array) => { em[0] = 1; }],
    ['block type 1', (em: Uint8Array) => { em[1] = 1; }],
    ['zero inside PS', (em: Uint8Array) => { em[20] = 0; }],
    ['no separator before the CEK', (em: Uint8Array) => { em[k - 33] = 7; }],
    ['CEK of another length', (em: Uint8Array) => { em[k - 33] = 0x11; em[k - 17] = 0; }],
  ])('%s: a random CEK of the right length, different every time', (_, spoil) => {
    const em = good();
    spoil(em);
    const a = unpadKeyTransport(em, k, 32);
    const b = unpadKeyTransport(em, k, 32);
    expect(a).toHaveLength(32);
    expect(hex(a)).not.toBe(hex(cek));
    expect(hex(a)).not.toBe(hex(b));
  });
});

describe('softwareKey', () => {
  it('RSA: PKCS#1 v1.5 signatures and raw decryption (padding left in place)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const key = softwareKey(privateKey);
    expect(key.algorithm).toBe('RSA');
    const data = new TextEncoder().encode('sign me');
    const sig = await key.sign(data, 'sha256');
    expect(verify('sha256', data, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, sig)).toBe(true);
    expect(verify('sha1', data, publicKey, sig)).toBe(false);
    const cek = new Uint8Array(16).fill(7);
    const em = key.decryptRaw!(publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, cek));
    expect(em).toHaveLength(256);
    expect([em[0], em[1]]).toEqual([0, 2]);
    expect(unpadKeyTransport(em, 256, 16)).toEqual(cek);
  });

  it('EC: DER ECDSA signatures, no decryption', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const key = softwareKey(privateKey);
    expect(key.algorithm).toBe('EC');
    expect(key.decryptRaw).toBeUndefined();
    const data = new TextEncoder().encode('sign me');
    const sig = await key.sign(data, 'sha384');
    expect(sig[0]).toBe(0x30);
    expect(verify('sha384', data, { key: createPublicKey(privateKey), dsaEncoding: 'der' }, sig)).toBe(true);
  });

  it('refuses public keys and Ed25519', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    expect(() => softwareKey(publicKey)).toThrow(TypeError);
    expect(() => softwareKey(privateKey)).toThrow(TypeError);
  });
});
