import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { publicKeyBits } from '../../../src/ca/certificate-builder.js';
import { readCertificate } from '../../../src/x509/cert-raw.js';
import { fromHex } from '../../../src/x509/asn1/bytes.js';
import { contextConstructed, nullValue, objectIdentifier, octetString, sequence, unsignedInteger } from '../../../src/x509/asn1/der.js';

// OCSP requests as relying parties build them (with our DER writer), and
// responses read back with pkijs: a second implementation, so a mistake in
// our writer cannot hide itself.

const HASH_OIDS = { sha1: '1.3.14.3.2.26', sha256: '2.16.840.1.101.3.4.2.1' } as const;

export interface RequestSpec {
  /** The issuer's certificate DER. */
  issuer: Uint8Array;
  serial: string;
  hash?: keyof typeof HASH_OIDS;
  /** Raw nonce bytes, wrapped in an OCTET STRING as RFC 8954 says. */
  nonce?: Uint8Array;
}

export function certId({ issuer, serial, hash = 'sha1' }: RequestSpec): Uint8Array {
  const ca = readCertificate(issuer);
  return sequence(
    sequence(objectIdentifier(HASH_OIDS[hash]), nullValue()),
    octetString(createHash(hash).update(ca.subjectName).digest()),
    octetString(createHash(hash).update(publicKeyBits(ca.spki)).digest()),
    unsignedInteger(fromHex(serial)),
  );
}

export function ocspRequest(...specs: RequestSpec[]): Uint8Array {
  const nonce = specs[0]?.nonce;
  const extensions = nonce ? [contextConstructed(2, sequence(sequence(objectIdentifier('1.3.6.1.5.5.7.48.1.2'), octetString(octetString(nonce)))))] : [];
  return sequence(sequence(sequence(...specs.map((s) => sequence(certId(s)))), ...extensions));
}

export interface DecodedResponse {
  /** OCSPResponseStatus: 0 successful, 1 malformedRequest, 2 internalError, 6 unauthorized. */
  status: number;
  single: { status: 'good' | 'revoked' | 'unknown'; revokedAt?: Date; reason?: number; serial: string; thisUpdate: Date; nextUpdate?: Date }[];
  producedAt?: Date;
  /** The echoed nonce's extnValue, hex. */
  nonce?: string;
  responderCertificate?: Uint8Array;
  /** The signature checks out with the key of the certificate in the response. */
  signatureValid?: boolean;
}

export function decodeResponse(der: Uint8Array): DecodedResponse {
  const outer = pkijs.OCSPResponse.fromBER(der);
  const status = outer.responseStatus.valueBlock.valueDec;
  if (!outer.responseBytes) return { status, single: [] };
  const basic = pkijs.BasicOCSPResponse.fromBER(outer.responseBytes.response.valueBlock.valueHexView);
  const tbs = basic.tbsResponseData;
  const certs = basic.certs ?? [];
  const responderCertificate = certs[0] ? new Uint8Array(certs[0].toSchema().toBER()) : undefined;
  let signatureValid: boolean | undefined;
  if (responderCertificate) {
    const key = createPublicKey({ key: Buffer.from(readCertificate(responderCertificate).spki), format: 'der', type: 'spki' });
    signatureValid = cryptoVerify('sha256', tbs.tbsView, key, basic.signature.valueBlock.valueHexView);
  }
  const nonceExt = tbs.responseExtensions?.find((e) => e.extnID === '1.3.6.1.5.5.7.48.1.2');
  return {
    status,
    producedAt: tbs.producedAt,
    single: tbs.responses.map((r) => {
      const s = r.certStatus as asn1js.BaseBlock;
      const tag = s.idBlock.tagNumber;
      const serial = Buffer.from(r.certID.serialNumber.valueBlock.valueHexView).toString('hex');
      const base = { serial, thisUpdate: r.thisUpdate, nextUpdate: r.nextUpdate };
      if (tag === 0) return { ...base, status: 'good' as const };
      if (tag === 2) return { ...base, status: 'unknown' as const };
      const info = (s as asn1js.Constructed).valueBlock.value;
      const revokedAt = (info[0] as asn1js.GeneralizedTime).toDate();
      const reasonTagged = info[1] as asn1js.Constructed | undefined;
      const reason = reasonTagged ? (reasonTagged.valueBlock.value[0] as asn1js.Enumerated).valueBlock.valueDec : undefined;
      return { ...base, status: 'revoked' as const, revokedAt, ...(reason !== undefined && { reason }) };
    }),
    ...(nonceExt && { nonce: Buffer.from(nonceExt.extnValue.valueBlock.valueHexView).toString('hex') }),
    ...(responderCertificate && { responderCertificate }),
    ...(signatureValid !== undefined && { signatureValid }),
  };
}
