import { createHash, createSign, generateKeyPairSync } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { describe, expect, it } from 'vitest';
import { verifyDetachedSignature } from '../../../src/x509/detached-signature.js';

// Apple's Mdm-Signature header through the gateway's one detached-CMS verification (AdapterServices.verifyDetachedSignature).
const verifyMdmSignature = (header: string, body: Uint8Array) => verifyDetachedSignature(header, body, 'Mdm-Signature');
import { issue, makeCa } from '../../../src/sim/fake-apns.js';
import { malformedMdmSignature } from './malformed-cms.js';
import { AppleDeviceSim } from '../../../src/sim/apple.js';
import { KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// The Mdm-Signature check on its own: signed attributes (what devices send),
// no signed attributes (older clients), and what it must refuse.

describe('verifyMdmSignature', () => {
  it('accepts a detached signature over the body and names the signer; refuses a changed body', async () => {
    const ca = await makeCa();
    const leaf = await issue(ca, 'CN=device');
    const sim = new AppleDeviceSim('http://unused');
    const id = { certificate: new Uint8Array(leaf.cert.rawData), key: { keys: leaf.keys, keyObject: KeyObject.from(leaf.keys.privateKey) } };
    const body = new Uint8Array(Buffer.from('<plist><dict><key>a</key><string>b</string></dict></plist>'));
    const sig = await sim.sign(body, id);
    const ok = verifyMdmSignature(sig, body);
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(Buffer.from(ok.signerCertificate).equals(Buffer.from(leaf.cert.rawData))).toBe(true);
    expect(verifyMdmSignature(sig, new Uint8Array(Buffer.from('<plist/>')))).toMatchObject({ ok: false, reason: expect.stringMatching(/message digest/) });
    expect(verifyMdmSignature('!!!', body)).toMatchObject({ ok: false, reason: expect.stringMatching(/base64/) });
    expect(verifyMdmSignature(Buffer.from('hello').toString('base64'), body)).toMatchObject({ ok: false });
  });

  it('keeps a verified signature by its exact bytes and the content it covers: the same pair again is the kept answer; other content, another signature or a refusal are checked afresh', async () => {
    const ca = await makeCa();
    const leaf = await issue(ca, 'CN=repeating-device');
    const sim = new AppleDeviceSim('http://unused');
    const id = { certificate: new Uint8Array(leaf.cert.rawData), key: { keys: leaf.keys, keyObject: KeyObject.from(leaf.keys.privateKey) } };
    const body = new Uint8Array(Buffer.from('<plist><dict><key>Status</key><string>Idle</string></dict></plist>'));
    const sig = await sim.sign(body, id);
    const first = verifyMdmSignature(sig, body);
    expect(first.ok).toBe(true);
    // The same bytes again (a copy of the body): the kept answer, no second verification.
    expect(verifyMdmSignature(sig, new Uint8Array(body))).toBe(first);
    // The kept signature over other content, or moved between signature and content, is not a hit.
    const other = new Uint8Array(Buffer.from('<plist><dict><key>Status</key><string>Error</string></dict></plist>'));
    expect(verifyMdmSignature(sig, other)).toMatchObject({ ok: false, reason: expect.stringMatching(/message digest/) });
    expect(verifyMdmSignature(sig.slice(0, -4), new Uint8Array([...Buffer.from(sig.slice(-4)), ...body]))).toMatchObject({ ok: false });
    // A refusal is not kept: each is a fresh answer.
    expect(verifyMdmSignature(sig, other)).not.toBe(verifyMdmSignature(sig, other));
    // Another device's signature over the same body verifies on its own.
    const leaf2 = await issue(ca, 'CN=another-device');
    const sig2 = await sim.sign(body, { certificate: new Uint8Array(leaf2.cert.rawData), key: { keys: leaf2.keys, keyObject: KeyObject.from(leaf2.keys.privateKey) } });
    const second = verifyMdmSignature(sig2, body);
    expect(second.ok && Buffer.from(second.signerCertificate).equals(Buffer.from(leaf2.cert.rawData))).toBe(true);
  });

  it('accepts SHA-1 without signed attributes; refuses a wrong signature', async () => {
    const ca = await makeCa();
    const leaf = await issue(ca, 'CN=old-device');
    const key = KeyObject.from(leaf.keys.privateKey);
    const body = Buffer.from('body');
    const build = (signature: Buffer) => {
      const cert = pkijs.Certificate.fromBER(leaf.cert.rawData);
      const sd = new pkijs.SignedData({
        version: 1,
        encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: '1.2.840.113549.1.7.1' }),
        digestAlgorithms: [new pkijs.AlgorithmIdentifier({ algorithmId: '1.3.14.3.2.26' })],
        signerInfos: [
          new pkijs.SignerInfo({
            version: 1,
            sid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
            digestAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: '1.3.14.3.2.26' }),
            signatureAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: '1.2.840.113549.1.1.1' }),
            signature: new asn1js.OctetString({ valueHex: signature }),
          }),
        ],
        certificates: [cert],
      });
      return Buffer.from(new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: sd.toSchema(true) }).toSchema().toBER()).toString('base64');
    };
    const good = createSign('sha1').update(body).sign(key);
    expect(verifyMdmSignature(build(good), body).ok).toBe(true);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expect(verifyMdmSignature(build(createSign('sha1').update(body).sign(other)), body)).toMatchObject({ ok: false, reason: expect.stringMatching(/does not verify/) });
    expect(createHash('sha1').update(body).digest()).toHaveLength(20);
  });

  it('refuses, never throws on, a messageDigest that is not an OCTET STRING or an odd signer identifier', async () => {
    const ca = await makeCa();
    const leaf = await issue(ca, 'CN=device');
    const der = new Uint8Array(leaf.cert.rawData);
    const body = new Uint8Array(Buffer.from('body'));
    for (const mdValue of [new asn1js.Null(), new asn1js.Sequence({ value: [new asn1js.Integer({ value: 1 })] }), new asn1js.Integer({ value: 7 })]) {
      expect(verifyMdmSignature(malformedMdmSignature(der, { mdValue }), body)).toMatchObject({ ok: false, reason: expect.stringMatching(/messageDigest/) });
    }
    // A subjectKeyIdentifier signer ([0] IMPLICIT OCTET STRING): found when it matches, refused (not thrown) when it is constructed or matches nothing.
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const skiExt = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey);
    const withSki = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '02', name: 'CN=ski', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, extensions: [skiExt] });
    const skiDer = new Uint8Array(withSki.rawData);
    const tagged = (hex: Uint8Array) => new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: hex });
    const sig = (sid: asn1js.AsnType) => verifyMdmSignature(malformedMdmSignature(skiDer, { sid }), body);
    expect(sig(tagged(Buffer.from(skiExt.keyId, 'hex')))).toMatchObject({ ok: false, reason: expect.stringMatching(/does not verify/) });
    expect(sig(tagged(new Uint8Array([1, 2, 3])))).toMatchObject({ ok: false, reason: expect.stringMatching(/signer certificate/) });
    expect(sig(new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.OctetString({ valueHex: Buffer.from(skiExt.keyId, 'hex') })] }))).toMatchObject({ ok: false });
  });

  it('accepts the BER a streaming CMS encoder sends (indefinite lengths on the outer levels) and refuses a changed body the same way', async () => {
    const ca = await makeCa();
    const leaf = await issue(ca, 'CN=device');
    const sim = new AppleDeviceSim('http://unused');
    const id = { certificate: new Uint8Array(leaf.cert.rawData), key: { keys: leaf.keys, keyObject: KeyObject.from(leaf.keys.privateKey) } };
    const body = new Uint8Array(Buffer.from('<plist><dict><key>Status</key><string>Idle</string></dict></plist>'));
    const der = Buffer.from(await sim.sign(body, id), 'base64');
    const ber = indefinite(der, 3).toString('base64');
    expect(ber).not.toBe(der.toString('base64'));
    const ok = verifyMdmSignature(ber, body);
    expect(ok).toMatchObject({ ok: true });
    if (ok.ok) expect(Buffer.from(ok.signerCertificate).equals(Buffer.from(leaf.cert.rawData))).toBe(true);
    expect(verifyMdmSignature(ber, new Uint8Array(Buffer.from('<plist/>')))).toMatchObject({ ok: false, reason: expect.stringMatching(/message digest/) });
    // Truncated anywhere: a refusal, never an exception.
    for (const cut of [3, 40, der.length - 3]) expect(verifyMdmSignature(indefinite(der, 3).subarray(0, cut).toString('base64'), body)).toMatchObject({ ok: false });
  });

  it('refuses a header with more BER elements than the bound (4,000), and one that carries its content', async () => {
    const many = Buffer.concat([Buffer.from([0x30, 0x84]), u32(5000 * 2), Buffer.alloc(5000 * 2).fill(Buffer.from([0x05, 0x00]))]);
    expect(verifyMdmSignature(many.toString('base64'), new Uint8Array(1))).toMatchObject({ ok: false, reason: expect.stringMatching(/node count exceeded/) });
    const ca = await makeCa();
    const leaf = await issue(ca, 'CN=device');
    const cert = pkijs.Certificate.fromBER(leaf.cert.rawData);
    const sd = new pkijs.SignedData({
      version: 1,
      encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: '1.2.840.113549.1.7.1', eContent: new asn1js.OctetString({ valueHex: Buffer.from('body') }) }),
      digestAlgorithms: [new pkijs.AlgorithmIdentifier({ algorithmId: '2.16.840.1.101.3.4.2.1' })],
      signerInfos: [],
      certificates: [cert],
    });
    const attached = Buffer.from(new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: sd.toSchema(true) }).toSchema().toBER()).toString('base64');
    expect(verifyMdmSignature(attached, new Uint8Array(Buffer.from('body')))).toMatchObject({ ok: false, reason: expect.stringMatching(/must be detached/) });
  });
});

const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);

/** Re-encodes the constructed values of the first `levels` levels with indefinite lengths (as a streaming encoder does); deeper values stay as they are. */
function indefinite(der: Buffer, levels: number): Buffer {
  const rewrite = (buf: Buffer, level: number): Buffer => {
    const tag = buf[0]!;
    let pos = 1;
    const first = buf[pos++]!;
    const len = first < 0x80 ? first : [...buf.subarray(pos, pos + (first & 0x7f))].reduce((a, b) => a * 256 + b, 0);
    if (first >= 0x80) pos += first & 0x7f;
    if (level >= levels || (tag & 0x20) === 0) return buf.subarray(0, pos + len);
    const parts: Buffer[] = [];
    for (let off = pos; off < pos + len; ) {
      const child = rewrite(buf.subarray(off), level + 1);
      parts.push(child);
      off += encodedLength(buf.subarray(off));
    }
    return Buffer.concat([Buffer.from([tag, 0x80]), ...parts, Buffer.from([0, 0])]);
  };
  return rewrite(der, 0);
}

function encodedLength(buf: Buffer): number {
  const first = buf[1]!;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  return 2 + n + [...buf.subarray(2, 2 + n)].reduce((a, b) => a * 256 + b, 0);
}
