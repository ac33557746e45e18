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
});
