import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

// A detached CMS SignedData, well-formed enough to parse, with a chosen
// messageDigest attribute value and signer identifier: for the checks that
// must refuse (not throw on) structurally wrong signatures.

export function malformedMdmSignature(certDer: Uint8Array, opts: { mdValue?: asn1js.AsnType; sid?: asn1js.AsnType } = {}): string {
  const cert = pkijs.Certificate.fromBER(certDer);
  const signedAttrs = opts.mdValue
    ? new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes: [new pkijs.Attribute({ type: '1.2.840.113549.1.9.4', values: [opts.mdValue] })] })
    : undefined;
  const sd = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: '1.2.840.113549.1.7.1' }),
    digestAlgorithms: [new pkijs.AlgorithmIdentifier({ algorithmId: '2.16.840.1.101.3.4.2.1' })],
    signerInfos: [
      new pkijs.SignerInfo({
        version: opts.sid ? 3 : 1,
        sid: opts.sid ?? new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
        digestAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: '2.16.840.1.101.3.4.2.1' }),
        signatureAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: '1.2.840.113549.1.1.1' }),
        ...(signedAttrs && { signedAttrs }),
        signature: new asn1js.OctetString({ valueHex: new Uint8Array(256) }),
      }),
    ],
    certificates: [cert],
  });
  return Buffer.from(new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: sd.toSchema(true) }).toSchema().toBER()).toString('base64');
}
