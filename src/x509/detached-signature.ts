import { X509Certificate, createHash, timingSafeEqual, verify } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { BER_PARSE_LIMITS } from './asn1/limits.js';

// The gateway's one verification of a detached CMS SignedData (RFC 5652):
// one signer, its certificate included, signed attributes optional (when
// present, messageDigest must match the content and contentType be id-data).
// Apple's Mdm-Signature header is one (SignMessage true in the enrollment
// profile); adapters reach it as AdapterServices.verifyDetachedSignature.
// This only proves "this content was signed by the key of this certificate";
// whether the certificate is one of our device identities is the caller's
// question (services.verifyDeviceCertificate). The SCEP codec's reader
// (scep/codec/signed-data.ts) cannot serve here: SCEP requires signed
// attributes and attached content, a detached signature may have neither.

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const OID_DATA = '1.2.840.113549.1.7.1';

const DIGESTS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
/** Signature algorithms we verify: RSA PKCS#1 v1.5 (bare or with a hash) and ECDSA. RSA-PSS is refused. */
const SIGNATURES = new Set([
  '1.2.840.113549.1.1.1',
  '1.2.840.113549.1.1.5',
  '1.2.840.113549.1.1.11',
  '1.2.840.113549.1.1.12',
  '1.2.840.113549.1.1.13',
  '1.2.840.10045.4.3.2',
  '1.2.840.10045.4.3.3',
  '1.2.840.10045.4.3.4',
]);

export type SignatureCheck = { ok: true; signerCertificate: Uint8Array } | { ok: false; reason: string };

const fail = (reason: string): SignatureCheck => ({ ok: false, reason });

/**
 * Verifies a base64 detached SignedData over `body`. `label` names the
 * signature in the reasons (e.g. `Mdm-Signature`). Total: any malformed input
 * is a failure result, never an exception.
 */
export function verifyDetachedSignature(base64: string, body: Uint8Array, label = 'the signature'): SignatureCheck {
  try {
    return check(base64, body, label);
  } catch (e) {
    return fail(`${label} is malformed: ${(e as Error).message}`);
  }
}

function check(headerValue: string, body: Uint8Array, label: string): SignatureCheck {
  const b64 = headerValue.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return fail(`${label} is not base64`);
  const der = Buffer.from(b64, 'base64');
  let sd: pkijs.SignedData;
  let rawCerts: Uint8Array[];
  try {
    const asn = asn1js.fromBER(new Uint8Array(der), BER_PARSE_LIMITS);
    if (asn.offset === -1) return fail(`${label} is not BER: ${(asn.result as { error?: string }).error ?? 'unreadable'}`);
    const ci = new pkijs.ContentInfo({ schema: asn.result });
    if (ci.contentType !== OID_SIGNED_DATA) return fail(`${label} is not a CMS SignedData`);
    sd = new pkijs.SignedData({ schema: ci.content });
    rawCerts = certificatesAsReceived(ci.content as asn1js.Sequence);
  } catch (e) {
    return fail(`${label} does not parse: ${(e as Error).message}`);
  }
  if (sd.encapContentInfo.eContent) return fail(`${label} must be detached (content absent)`);
  if (sd.signerInfos.length !== 1) return fail(`${label} must have exactly one signer`);
  const si = sd.signerInfos[0]!;
  const digest = DIGESTS[si.digestAlgorithm.algorithmId];
  if (!digest) return fail(`unsupported digest ${si.digestAlgorithm.algorithmId}`);
  if (!SIGNATURES.has(si.signatureAlgorithm.algorithmId)) return fail(`unsupported signature algorithm ${si.signatureAlgorithm.algorithmId}`);

  const signer = findSigner(si, rawCerts);
  if (!signer) return fail('the signer certificate is not in the SignedData');

  let signed: Uint8Array;
  if (si.signedAttrs) {
    const attrs = si.signedAttrs.attributes;
    const md = attrs.filter((a) => a.type === OID_MESSAGE_DIGEST);
    if (md.length !== 1 || md[0]!.values.length !== 1) return fail('signed attributes need exactly one messageDigest');
    const ct = attrs.find((a) => a.type === OID_CONTENT_TYPE);
    if (ct && (ct.values[0] as asn1js.ObjectIdentifier | undefined)?.valueBlock?.toString() !== OID_DATA) return fail('signed contentType is not id-data');
    const mdValue = md[0]!.values[0];
    if (!(mdValue instanceof asn1js.OctetString)) return fail('the messageDigest attribute is not an OCTET STRING');
    const claimed = Buffer.from(mdValue.valueBlock.valueHexView);
    const actual = createHash(digest).update(body).digest();
    if (claimed.length !== actual.length || !timingSafeEqual(claimed, actual)) return fail('the body does not match the signed message digest');
    signed = new Uint8Array(si.signedAttrs.encodedValue);
  } else {
    signed = body;
  }
  const ok = (() => {
    try {
      return verify(digest, signed, signer.publicKey, Buffer.from(si.signature.valueBlock.valueHexView));
    } catch {
      return false;
    }
  })();
  if (!ok) return fail(`the ${label} signature does not verify`);
  return { ok: true, signerCertificate: new Uint8Array(signer.raw) };
}

/** The certificates exactly as the device sent them (so their hash matches our issuance record). */
function certificatesAsReceived(signedData: asn1js.Sequence): Uint8Array[] {
  const set = signedData.valueBlock.value.find((e) => e.idBlock.tagClass === 3 && e.idBlock.tagNumber === 0) as asn1js.Constructed | undefined;
  if (!set) return [];
  return set.valueBlock.value.filter((e) => e.idBlock.tagClass === 1 && e.idBlock.tagNumber === 16).map((e) => new Uint8Array(e.valueBeforeDecodeView));
}

function findSigner(si: pkijs.SignerInfo, certs: Uint8Array[]): X509Certificate | null {
  for (const der of certs) {
    let x: X509Certificate;
    let c: pkijs.Certificate;
    try {
      x = new X509Certificate(der);
      c = pkijs.Certificate.fromBER(der);
    } catch {
      continue;
    }
    if (si.sid instanceof pkijs.IssuerAndSerialNumber) {
      if (c.issuer.isEqual(si.sid.issuer) && c.serialNumber.isEqual(si.sid.serialNumber)) return x;
    } else {
      const skiExt = c.extensions?.find((e) => e.extnID === '2.5.29.14');
      const ski = skiExt?.parsedValue instanceof asn1js.OctetString ? primitiveBytes(skiExt.parsedValue) : null;
      // subjectKeyIdentifier [0] IMPLICIT OCTET STRING: pkijs leaves it as the tagged primitive.
      const wanted = primitiveBytes(si.sid);
      if (ski && wanted && ski.equals(wanted)) return x;
    }
  }
  return null;
}

/** The content octets of a primitive ASN.1 value, or null for anything else (a constructed or missing value). */
function primitiveBytes(v: unknown): Buffer | null {
  const hex = v instanceof asn1js.BaseBlock ? (v.valueBlock as { valueHexView?: unknown }).valueHexView : undefined;
  return hex instanceof Uint8Array ? Buffer.from(hex) : null;
}
