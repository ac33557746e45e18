// Writes OCSPResponse DER (RFC 6960 4.2.1) with the project's DER writer and
// signs BasicOCSPResponse through PrivateKeyOps (node:crypto, in the thread pool).
//
//   OCSPResponse      ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT OPTIONAL }
//   ResponseBytes     ::= SEQUENCE { responseType OID (id-pkix-ocsp-basic), response OCTET STRING }
//   BasicOCSPResponse ::= SEQUENCE { tbsResponseData, signatureAlgorithm, signature BIT STRING,
//                                    certs [0] EXPLICIT SEQUENCE OF Certificate }
//   ResponseData      ::= SEQUENCE { responderID ([2] byKey), producedAt, responses,
//                                    responseExtensions [1] EXPLICIT OPTIONAL }
//   SingleResponse    ::= SEQUENCE { certID, certStatus, thisUpdate, nextUpdate [0] EXPLICIT }

import { REVOCATION_REASON_CODES, type RevocationReason } from '../../core/model.js';
import { bitString, contextConstructed, contextPrimitive, objectIdentifier, octetString, sequence, tlv } from '../../x509/asn1/der.js';
import type { PrivateKeyOps } from '../../x509/keys.js';
import { signatureAlgorithm } from '../certificate-builder.js';
import { OID_OCSP_NONCE } from './request-parser.js';

export const OID_OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';

/** OCSPResponseStatus values that carry no responseBytes. */
export const OCSP_ERROR_STATUS = {
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  unauthorized: 6,
} as const;
export type OcspErrorStatus = keyof typeof OCSP_ERROR_STATUS;

export type CertStatus =
  | { status: 'good' }
  | { status: 'revoked'; revokedAt: Date; reason: RevocationReason | null }
  | { status: 'unknown' };

export interface SingleAnswer {
  certIdDer: Uint8Array;
  certStatus: CertStatus;
}

export interface BasicResponseParams {
  answers: readonly SingleAnswer[];
  /** SHA-1 of the responder key's subjectPublicKey bits (ResponderID byKey). */
  responderKeyHash: Uint8Array;
  responderCertificate: Uint8Array;
  signer: PrivateKeyOps;
  producedAt: Date;
  thisUpdate: Date;
  nextUpdate: Date;
  /** The request's nonce extnValue, echoed as it came. */
  nonce: Uint8Array | null;
}

const enumerated = (n: number): Uint8Array => tlv(0x0a, Uint8Array.of(n));

/** An unsigned error answer: malformedRequest, internalError, tryLater or unauthorized. */
export function errorResponse(status: OcspErrorStatus): Uint8Array {
  return sequence(enumerated(OCSP_ERROR_STATUS[status]));
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** GeneralizedTime, whole seconds, Z: OCSP uses it for every time (never UTCTime). */
export function generalizedTime(d: Date): Uint8Array {
  const s = `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(0x18, new TextEncoder().encode(s));
}

function certStatus(s: CertStatus): Uint8Array {
  switch (s.status) {
    case 'good':
      return contextPrimitive(0, new Uint8Array(0));
    case 'unknown':
      return contextPrimitive(2, new Uint8Array(0));
    case 'revoked': {
      // RFC 5280 5.3.1: reasonCode unspecified (0) SHOULD be absent rather than sent.
      const reason = s.reason && s.reason !== 'unspecified' ? [contextConstructed(0, enumerated(REVOCATION_REASON_CODES[s.reason]))] : [];
      return contextConstructed(1, generalizedTime(s.revokedAt), ...reason);
    }
  }
}

function singleResponse(a: SingleAnswer, thisUpdate: Date, nextUpdate: Date): Uint8Array {
  return sequence(a.certIdDer, certStatus(a.certStatus), generalizedTime(thisUpdate), contextConstructed(0, generalizedTime(nextUpdate)));
}

/** A signed `successful` OCSPResponse. */
export async function buildSignedResponse(p: BasicResponseParams): Promise<Uint8Array> {
  const extensions = p.nonce ? [contextConstructed(1, sequence(sequence(objectIdentifier(OID_OCSP_NONCE), octetString(p.nonce))))] : [];
  const tbs = sequence(
    contextConstructed(2, octetString(p.responderKeyHash)),
    generalizedTime(p.producedAt),
    sequence(...p.answers.map((a) => singleResponse(a, p.thisUpdate, p.nextUpdate))),
    ...extensions,
  );
  const hash = 'sha256';
  const signature = await p.signer.sign(tbs, hash);
  const basic = sequence(tbs, signatureAlgorithm(p.signer.algorithm, hash), bitString(signature), contextConstructed(0, sequence(p.responderCertificate)));
  return sequence(enumerated(0), contextConstructed(0, sequence(objectIdentifier(OID_OCSP_BASIC), octetString(basic))));
}
