import { createHash, createSign, generateKeyPairSync } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { describe, expect, it } from 'vitest';
import { verifyMdmSignature } from '../../../src/adapters/apple/mdm-signature.js';
import { issue, makeCa } from './fake-apns.js';
import { AppleDeviceSim } from './simulator.js';
import { KeyObject } from 'node:crypto';

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
});
