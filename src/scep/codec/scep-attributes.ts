// The SCEP authenticated attributes (RFC 8894 section 3.2.1): how they are
// read from a verified-or-not SignerInfo and how we write them. Each must
// carry exactly one value; node-forge's writer emits them as empty SETs, which
// is exactly the defect singleAttribute() reports.

import { isUniversal, octetsOf, stringOf, TAG } from './ber-reader.js';
import { attribute, isPrintableString, octetString, printableString, utf8String } from '../../x509/asn1/der.js';
import { malformed } from './errors.js';
import { SCEP_ATTR } from './oids.js';
import { singleAttribute, type SignerInfoParts } from './signed-data.js';

export function readTransactionId(signer: SignerInfoParts): string | null {
  const node = singleAttribute(signer, SCEP_ATTR.transactionID, 'transactionID');
  if (!node) return null;
  const id = stringOf(node, 'transactionID');
  if (id.length === 0) throw malformed('transactionID is empty');
  return id;
}

export function readNonce(signer: SignerInfoParts, which: 'senderNonce' | 'recipientNonce'): Uint8Array | null {
  const node = singleAttribute(signer, SCEP_ATTR[which], which);
  if (!node) return null;
  if (!isUniversal(node, TAG.OCTET_STRING)) throw malformed(`${which} is not an OCTET STRING`);
  const nonce = octetsOf(node, which);
  // RFC 8894 says 16 octets; accept other non-empty lengths from older clients.
  if (nonce.length === 0) throw malformed(`${which} is empty`);
  return nonce;
}

/** A decimal number carried as PrintableString (messageType, pkiStatus, failInfo). */
export function readNumberString(signer: SignerInfoParts, oid: string, name: string): number | null {
  const node = singleAttribute(signer, oid, name);
  if (!node) return null;
  const text = stringOf(node, name).trim();
  if (!/^\d{1,4}$/.test(text)) throw malformed(`${name} is not a number: ${JSON.stringify(text.slice(0, 20))}`);
  return Number(text);
}

export function readFailInfoText(signer: SignerInfoParts): string | null {
  const node = singleAttribute(signer, SCEP_ATTR.failInfoText, 'failInfoText');
  return node ? stringOf(node, 'failInfoText') : null;
}

/** Encoders for the attributes we sign. */
export const scepAttribute = {
  messageType: (n: number): Uint8Array => attribute(SCEP_ATTR.messageType, printableString(String(n))),
  pkiStatus: (value: string): Uint8Array => attribute(SCEP_ATTR.pkiStatus, printableString(value)),
  failInfo: (n: number): Uint8Array => attribute(SCEP_ATTR.failInfo, printableString(String(n))),
  failInfoText: (text: string): Uint8Array => attribute(SCEP_ATTR.failInfoText, utf8String(text)),
  // PrintableString per RFC 8894; an ID outside that alphabet (a sloppy client)
  // is echoed as UTF8String rather than refused, so the client still matches it.
  transactionId: (id: string): Uint8Array =>
    attribute(SCEP_ATTR.transactionID, isPrintableString(id) ? printableString(id) : utf8String(id)),
  senderNonce: (nonce: Uint8Array): Uint8Array => attribute(SCEP_ATTR.senderNonce, octetString(nonce)),
  recipientNonce: (nonce: Uint8Array): Uint8Array => attribute(SCEP_ATTR.recipientNonce, octetString(nonce)),
};
