// Client side of the codec: what a SCEP requester sends and how it reads the
// answer. Used by tests and the device simulators; the server never calls it.
// Same building blocks as the server side, so the two cannot drift apart
// silently, and readCertRep is as strict as certmonger: the CertRep must be
// signed by the RA certificate we trust and carry every SCEP attribute.

import { randomBytes } from 'node:crypto';
import { FAIL_INFO_VALUE, type FailInfo } from './fail-info.js';
import type { HashName, KeyedCertificate } from '../../x509/keys.js';
import { readCmsCertificate, identifies } from './cms-certificate.js';
import { readCertsOnly, readCrls } from './certs-only.js';
import { sequence, tlv } from '../../x509/asn1/der.js';
import { openEnvelope, readEnvelope, sealEnvelope } from './enveloped-data.js';
import { malformed, ScepMessageError } from './errors.js';
import { CMS, SCEP_ATTR } from './oids.js';
import { readFailInfoText, readNonce, readNumberString, readTransactionId, scepAttribute } from './scep-attributes.js';
import { readSignedData, soleSigner, verifySigner, writeSignedData, type SignedDataParts } from './signed-data.js';
import { MESSAGE_TYPE, type ContentCipher, type PkiStatus } from './types.js';

export type PkiRequestPayload =
  | { messageType: 'PKCSReq' | 'RenewalReq'; csr: Uint8Array }
  | { messageType: 'CertPoll'; issuerAndSubject: { issuer: Uint8Array; subject: Uint8Array } }
  | { messageType: 'GetCert' | 'GetCRL'; issuerAndSerial: { issuer: Uint8Array; serialNumber: Uint8Array } };

export type PkiRequestArgs = PkiRequestPayload & {
  transactionId: string;
  /** The requester's self-signed (or existing, for RenewalReq) certificate and its key. */
  signer: KeyedCertificate;
  /** RA certificate DER: the envelope is encrypted to it. */
  recipient: Uint8Array;
  cipher: ContentCipher;
  digest: HashName;
  /** Default: 16 fresh random bytes. */
  senderNonce?: Uint8Array;
  /** false imitates clients that do not DER-sort signed attributes (Go's). */
  sortAttributes?: boolean;
  /** Overrides the messageType number on the wire, to imitate broken or exotic clients. */
  messageTypeNumber?: number;
};

/** Builds a pkiMessage (DER) as a SCEP client would. */
export async function writePkiRequest(args: PkiRequestArgs): Promise<Uint8Array> {
  const messageData = requestContent(args);
  const envelope = sealEnvelope(messageData, args.recipient, args.cipher);
  return writeSignedData({
    eContent: envelope,
    certificates: [args.signer.certificate],
    signer: args.signer,
    digest: args.digest,
    sortAttributes: args.sortAttributes ?? true,
    attributes: [
      scepAttribute.messageType(args.messageTypeNumber ?? MESSAGE_TYPE[args.messageType]),
      scepAttribute.transactionId(args.transactionId),
      scepAttribute.senderNonce(args.senderNonce ?? new Uint8Array(randomBytes(16))),
    ],
  });
}

function requestContent(args: PkiRequestPayload): Uint8Array {
  switch (args.messageType) {
    case 'PKCSReq':
    case 'RenewalReq':
      return args.csr;
    case 'CertPoll':
      return sequence(args.issuerAndSubject.issuer, args.issuerAndSubject.subject);
    case 'GetCert':
    case 'GetCRL':
      return sequence(args.issuerAndSerial.issuer, tlv(0x02, args.issuerAndSerial.serialNumber));
  }
}

/** The signed part of a CertRep: what a client can know without decrypting. */
export interface CertRepHeader {
  status: PkiStatus;
  failInfo?: FailInfo;
  failInfoText?: string;
  transactionId: string;
  recipientNonce: Uint8Array;
  senderNonce: Uint8Array;
}

export interface CertRepResult extends CertRepHeader {
  /** SUCCESS: the certificates of the decrypted certs-only SignedData, in encoded order. */
  certificates: Uint8Array[];
  /** SUCCESS: its CRLs (the answer to a GetCRL). */
  crls: Uint8Array[];
}

const STATUS_BY_VALUE: Record<number, PkiStatus> = { 0: 'SUCCESS', 2: 'FAILURE', 3: 'PENDING' };

/**
 * Verifies a CertRep's signature with `raCert` (not with whatever certificate
 * the message includes) and reads its SCEP attributes; does not decrypt.
 * Throws ScepMessageError (context null).
 */
export function verifyCertRep(der: Uint8Array, raCert: Uint8Array): CertRepHeader {
  return readHeader(readSignedData(der, 'CertRep'), raCert);
}

function readHeader(sd: SignedDataParts, raCert: Uint8Array): CertRepHeader {
  const { signer } = soleSigner(sd);
  const ra = readCmsCertificate(raCert);
  if (!identifies(signer.sid, ra)) {
    throw new ScepMessageError('MESSAGE_SIGNATURE_INVALID', null, 'the CertRep is not signed by the RA certificate');
  }
  verifySigner(sd, signer, ra);

  const messageType = readNumberString(signer, SCEP_ATTR.messageType, 'messageType');
  if (messageType !== MESSAGE_TYPE.CertRep) throw malformed(`messageType is ${String(messageType)}, expected CertRep (3)`);
  const statusValue = readNumberString(signer, SCEP_ATTR.pkiStatus, 'pkiStatus');
  const status = statusValue === null ? undefined : STATUS_BY_VALUE[statusValue];
  if (!status) throw malformed(`pkiStatus ${String(statusValue)} is missing or unknown`);
  const transactionId = readTransactionId(signer);
  const senderNonce = readNonce(signer, 'senderNonce');
  const recipientNonce = readNonce(signer, 'recipientNonce');
  if (transactionId === null || senderNonce === null || recipientNonce === null) {
    throw malformed('CertRep lacks transactionID, senderNonce or recipientNonce');
  }
  const header: CertRepHeader = { status, transactionId, senderNonce, recipientNonce };
  if (status === 'FAILURE') {
    const failInfoValue = readNumberString(signer, SCEP_ATTR.failInfo, 'failInfo');
    const failInfo = Object.entries(FAIL_INFO_VALUE).find(([, v]) => v === failInfoValue)?.[0] as FailInfo | undefined;
    if (!failInfo) throw malformed(`failInfo ${String(failInfoValue)} is missing or unknown`);
    header.failInfo = failInfo;
    const text = readFailInfoText(signer);
    if (text !== null) header.failInfoText = text;
  }
  return header;
}

/** Reads and verifies a CertRep signed by `raCert`; on SUCCESS decrypts it with the requester's key. */
export async function readCertRep(der: Uint8Array, requester: KeyedCertificate, raCert: Uint8Array): Promise<CertRepResult> {
  const sd = readSignedData(der, 'CertRep');
  const header = readHeader(sd, raCert);
  const result: CertRepResult = { ...header, certificates: [], crls: [] };
  if (header.status === 'SUCCESS') {
    if (sd.eContentType !== CMS.data || sd.eContent === null) throw malformed('SUCCESS CertRep without pkcsPKIEnvelope');
    const { content } = openEnvelope(readEnvelope(sd.eContent), requester);
    result.certificates = readCertsOnly(content);
    result.crls = readCrls(content);
    if (result.certificates.length === 0 && result.crls.length === 0) throw malformed('SUCCESS CertRep without certificates or CRLs');
  }
  return result;
}
