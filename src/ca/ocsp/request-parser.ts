// Reads an OCSPRequest (RFC 6960 4.1.1) from a relying party. Strict DER
// through ../../x509/asn1/der-reader.ts: offsets into the one buffer, bounds
// checked against it, and only the known structure is descended into, so the
// work is linear in the (size-capped) input. Anything that is not the
// structure below is an OcspRequestError, which the responder answers with
// malformedRequest.
//
//   OCSPRequest ::= SEQUENCE { tbsRequest, optionalSignature [0] EXPLICIT OPTIONAL }
//   TBSRequest  ::= SEQUENCE { version [0] DEFAULT v1, requestorName [1] OPTIONAL,
//                              requestList SEQUENCE OF Request, requestExtensions [2] OPTIONAL }
//   Request     ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] OPTIONAL }
//   CertID      ::= SEQUENCE { hashAlgorithm, issuerNameHash OCTET STRING,
//                              issuerKeyHash OCTET STRING, serialNumber INTEGER }
//
// A request signature is not checked: the responder answers anyone (status is
// public information) and does not require signed requests.

import { OCSP_LIMITS } from '../../core/input-limits.js';
import { toHex } from '../../x509/asn1/bytes.js';
import { children, content, decodeOid, raw, readWhole, type Tlv } from '../../x509/asn1/der-reader.js';

export class OcspRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OcspRequestError';
  }
}

export const OID_OCSP_NONCE = '1.3.6.1.5.5.7.48.1.2';

/** The CertID hash algorithms we can match an issuer with. */
export const CERT_ID_HASHES: Readonly<Record<string, 'sha1' | 'sha256' | 'sha384' | 'sha512'>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

export interface CertId {
  /** The CertID's exact DER: the response repeats it byte for byte. */
  der: Uint8Array;
  /** Dotted OID of hashAlgorithm. */
  hashOid: string;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  /** Lower-case hex of the INTEGER content bytes: how storage records our serials. */
  serial: string;
}

export interface OcspRequest {
  certIds: CertId[];
  /** extnValue of the nonce extension, echoed verbatim (RFC 8954); null when none was sent. */
  nonce: Uint8Array | null;
}

function fail(message: string): never {
  throw new OcspRequestError(message);
}

function parts(buf: Uint8Array, t: Tlv, what: string): Tlv[] {
  try {
    return children(buf, t);
  } catch (e) {
    return fail(`${what}: ${(e as Error).message}`);
  }
}

export function parseOcspRequest(der: Uint8Array): OcspRequest {
  if (der.length === 0) fail('empty request');
  if (der.length > OCSP_LIMITS.maxRequestBytes) fail(`request larger than ${OCSP_LIMITS.maxRequestBytes} bytes`);
  let top: Tlv;
  try {
    top = readWhole(der, 0x30);
  } catch (e) {
    return fail(`not a DER OCSPRequest: ${(e as Error).message}`);
  }
  const outer = parts(der, top, 'OCSPRequest');
  const tbsT = outer[0];
  if (!tbsT || tbsT.tag !== 0x30) fail('OCSPRequest without tbsRequest');
  if (outer.length > 2 || (outer[1] && outer[1].tag !== 0xa0)) fail('unexpected element after tbsRequest');

  const fields = parts(der, tbsT, 'tbsRequest');
  let i = 0;
  if (fields[i]?.tag === 0xa0) checkVersion(der, fields[i++]!);
  if (fields[i]?.tag === 0xa1) i++; // requestorName: not used
  const listT = fields[i++];
  if (!listT || listT.tag !== 0x30) fail('tbsRequest without requestList');
  let nonce: Uint8Array | null = null;
  if (fields[i]?.tag === 0xa2) nonce = readNonce(der, fields[i++]!);
  if (i !== fields.length) fail('unexpected element in tbsRequest');

  const requests = parts(der, listT, 'requestList');
  if (requests.length === 0) fail('empty requestList');
  if (requests.length > OCSP_LIMITS.maxCertIds) fail(`more than ${OCSP_LIMITS.maxCertIds} certificates in one request`);
  return { certIds: requests.map((r) => readRequest(der, r)), nonce };
}

function checkVersion(der: Uint8Array, t: Tlv): void {
  const [v] = parts(der, t, 'version');
  if (!v || v.tag !== 0x02 || content(der, v).length !== 1 || content(der, v)[0] !== 0) fail('unsupported OCSPRequest version (only v1)');
}

function readRequest(der: Uint8Array, t: Tlv): CertId {
  if (t.tag !== 0x30) fail('Request is not a SEQUENCE');
  const [certT, extT, extra] = parts(der, t, 'Request');
  if (!certT || certT.tag !== 0x30) fail('Request without CertID');
  if ((extT && extT.tag !== 0xa0) || extra) fail('unexpected element in Request');
  const [algT, nameT, keyT, serialT, more] = parts(der, certT, 'CertID');
  if (!algT || algT.tag !== 0x30 || nameT?.tag !== 0x04 || keyT?.tag !== 0x04 || serialT?.tag !== 0x02 || more) fail('malformed CertID');
  const [oidT, paramsT, moreAlg] = parts(der, algT, 'hashAlgorithm');
  if (!oidT || oidT.tag !== 0x06 || moreAlg) fail('malformed CertID hashAlgorithm');
  // Parameters: absent or NULL (both are seen in the field for SHA-1 and SHA-2).
  if (paramsT && (paramsT.tag !== 0x05 || paramsT.end !== paramsT.contentStart)) fail('CertID hashAlgorithm parameters must be absent or NULL');
  let hashOid: string;
  try {
    hashOid = decodeOid(content(der, oidT));
  } catch (e) {
    return fail(`CertID hashAlgorithm: ${(e as Error).message}`);
  }
  const serial = content(der, serialT);
  if (serial.length === 0 || serial.length > 32) fail('CertID serialNumber must be 1..32 octets');
  return {
    der: raw(der, certT),
    hashOid,
    issuerNameHash: content(der, nameT),
    issuerKeyHash: content(der, keyT),
    serial: toHex(serial),
  };
}

/** requestExtensions: returns the nonce's extnValue (checked for RFC 8954's 1..32 octets) or null. */
function readNonce(der: Uint8Array, t: Tlv): Uint8Array | null {
  const [extsT, extra] = parts(der, t, 'requestExtensions');
  if (!extsT || extsT.tag !== 0x30 || extra) fail('malformed requestExtensions');
  let nonce: Uint8Array | null = null;
  for (const extT of parts(der, extsT, 'requestExtensions')) {
    if (extT.tag !== 0x30) fail('malformed extension');
    const p = parts(der, extT, 'extension');
    const oidT = p[0];
    const valueT = p[p.length - 1];
    if (p.length < 2 || p.length > 3 || oidT?.tag !== 0x06 || valueT?.tag !== 0x04 || (p.length === 3 && p[1]!.tag !== 0x01)) fail('malformed extension');
    if (toHex(content(der, oidT)) !== NONCE_OID_HEX) continue;
    if (nonce) fail('two nonce extensions');
    nonce = content(der, valueT);
    const length = nonceLength(nonce);
    if (length < 1 || length > OCSP_LIMITS.maxNonceBytes) fail(`nonce must be 1..${OCSP_LIMITS.maxNonceBytes} octets, got ${length}`);
  }
  return nonce;
}

const NONCE_OID_HEX = '2b0601050507300102'; // 1.3.6.1.5.5.7.48.1.2

/**
 * RFC 8954: extnValue holds an OCTET STRING with the nonce. Some older clients
 * put the nonce bytes there unwrapped; those are measured as they are.
 */
function nonceLength(extnValue: Uint8Array): number {
  try {
    const t = readWhole(extnValue, 0x04);
    return t.end - t.contentStart;
  } catch {
    return extnValue.length;
  }
}
