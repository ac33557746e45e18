// Writes and signs an X.509 v2 CRL (RFC 5280 section 5): the full list of one
// CA's revoked certificates, with CRL Number and Authority Key Identifier, one
// entry per revoked certificate with its reason code. Pure: the caller (the
// CRL publisher) supplies the entries, the number and the times. Built with
// the same DER writer and PrivateKeyOps signing as the certificates.

import { REVOCATION_REASON_CODES, type RevocationReason } from '../core/model.js';
import { concat, fromHex } from '../x509/asn1/bytes.js';
import { bitString, contextConstructed, DerError, integer, sequence, time, tlv, unsignedInteger } from '../x509/asn1/der.js';
import type { HashName, PrivateKeyOps } from '../x509/keys.js';
import { authorityKeyIdentifier, encodeExtension, signatureAlgorithm, type Extension } from './certificate-builder.js';

export const CRL_OID = {
  crlNumber: '2.5.29.20',
  reasonCode: '2.5.29.21',
} as const;

export interface CrlEntry {
  /** Lower-case hex, as stored. */
  serialNumber: string;
  revokedAt: Date;
  reason: RevocationReason;
}

export interface CrlParams {
  /** The CA's subject Name DER, byte for byte (relying parties match it against the certificate's issuer). */
  issuerName: Uint8Array;
  /** The CA's subject key identifier: the CRL's AKI, the same bytes its certificates carry. */
  authorityKeyId: Uint8Array;
  /** RFC 5280 5.2.3: monotonically increasing per CA. */
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: readonly CrlEntry[];
  signer: PrivateKeyOps;
  hash?: HashName;
}

/** reasonCode ::= ENUMERATED; absent for unspecified (RFC 5280 5.3.1 says it SHOULD be). */
function reasonCode(reason: RevocationReason): Extension | null {
  const code = REVOCATION_REASON_CODES[reason];
  if (code === undefined) throw new DerError(`unknown revocation reason: ${String(reason)}`);
  return code === 0 ? null : { oid: CRL_OID.reasonCode, critical: false, value: tlv(0x0a, Uint8Array.of(code)) };
}

function revokedCertificate(e: CrlEntry): Uint8Array {
  const hex = e.serialNumber.length % 2 === 1 ? `0${e.serialNumber}` : e.serialNumber;
  const reason = reasonCode(e.reason);
  return reason
    ? sequence(unsignedInteger(fromHex(hex)), time(e.revokedAt), sequence(encodeExtension(reason)))
    : sequence(unsignedInteger(fromHex(hex)), time(e.revokedAt));
}

/** Builds the TBSCertList, signs it with `signer` and returns the CRL DER. */
export async function buildCrl(p: CrlParams): Promise<Uint8Array> {
  if (!Number.isSafeInteger(p.crlNumber) || p.crlNumber < 0) throw new DerError(`CRL Number out of range: ${p.crlNumber}`);
  if (!(p.nextUpdate.getTime() > p.thisUpdate.getTime())) throw new DerError('nextUpdate must be after thisUpdate');
  const hash = p.hash ?? 'sha256';
  const sigAlg = signatureAlgorithm(p.signer.algorithm, hash);
  const crlExtensions = [authorityKeyIdentifier(p.authorityKeyId), { oid: CRL_OID.crlNumber, critical: false, value: integer(p.crlNumber) }];
  const tbsParts: Uint8Array[] = [integer(1), sigAlg, p.issuerName, time(p.thisUpdate), time(p.nextUpdate)];
  // revokedCertificates is omitted, not empty, when nothing is revoked (RFC 5280 5.1.2.6).
  // concat, not spread: a CRL can list more entries than a call takes arguments.
  if (p.entries.length > 0) tbsParts.push(tlv(0x30, concat(p.entries.map(revokedCertificate))));
  tbsParts.push(contextConstructed(0, sequence(...crlExtensions.map(encodeExtension))));
  const tbs = sequence(...tbsParts);
  const signature = await p.signer.sign(tbs, hash);
  return sequence(tbs, sigAlg, bitString(signature));
}
