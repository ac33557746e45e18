// Typed values the SCEP codec produces and consumes. No HTTP, storage or
// policy here: the server layer maps these to decisions.

import type { HashName } from '../../x509/keys.js';

/** RFC 8894 section 3.2.1.2 messageType numbers. */
export const MESSAGE_TYPE = {
  CertRep: 3,
  RenewalReq: 17,
  PKCSReq: 19,
  CertPoll: 20,
  GetCert: 21,
  GetCRL: 22,
} as const;

export type MessageType = keyof typeof MESSAGE_TYPE;

/** Content-encryption algorithms the codec understands (single DES: input only). */
export type ContentCipher = 'des-cbc' | 'des-ede3-cbc' | 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc';

export type DigestName = HashName;

/** RFC 8894 section 3.2.1.3 pkiStatus. */
export type PkiStatus = 'SUCCESS' | 'FAILURE' | 'PENDING';

export const PKI_STATUS_VALUE: Record<PkiStatus, string> = { SUCCESS: '0', FAILURE: '2', PENDING: '3' };

/** The decrypted pkcsPKIEnvelope content, by messageType. */
export type PkiPayload =
  | { type: 'PKCSReq' | 'RenewalReq'; /** PKCS#10 DER, not yet validated beyond its outer shape. */ csr: Uint8Array }
  | { type: 'CertPoll'; /** DER Name */ issuer: Uint8Array; /** DER Name */ subject: Uint8Array }
  | { type: 'GetCert'; /** DER Name */ issuer: Uint8Array; /** INTEGER content octets (two's complement, as encoded) */ serialNumber: Uint8Array }
  /** RFC 8894 3.3.4: IssuerAndSerialNumber of the certificate whose CRL is wanted. */
  | { type: 'GetCRL'; /** DER Name */ issuer: Uint8Array; /** INTEGER content octets (two's complement, as encoded) */ serialNumber: Uint8Array };

/** What a CertRep needs to know about the request it answers. */
export interface ReplyContext {
  transactionId: string;
  /** The request's senderNonce; becomes the reply's recipientNonce. */
  senderNonce: Uint8Array;
  /** DER of the certificate that signed the request (self-signed or existing cert): the reply is encrypted to it. */
  recipient: Uint8Array;
  /** Request digest when supported, else sha256. The reply mirrors it. */
  digest: HashName;
  /** Request content cipher when known, else des-ede3-cbc. The reply upgrades single DES to DES-EDE3. */
  cipher: ContentCipher;
}

/** A verified and decrypted SCEP request. */
export interface PkiMessage {
  messageType: PkiPayload['type'];
  transactionId: string;
  senderNonce: Uint8Array;
  /** DER of the certificate in the SignedData that signed the message. */
  signerCertificate: Uint8Array;
  digest: HashName;
  cipher: ContentCipher;
  payload: PkiPayload;
  /** Ready-made context for writeCertRep. */
  reply: ReplyContext;
}
