// Server side: a pkiMessage (RFC 8894 section 3.2) in, a verified and
// decrypted request out. Order matters for the error contract:
//   1. parse the outer SignedData, find transactionID, senderNonce and the
//      signer certificate. Failing here: context null (HTTP 400).
//   2. from then on every error carries the ReplyContext, so the server can
//      answer with a signed CertRep FAILURE: signature, messageType, envelope,
//      payload.
// The signature is checked before anything is decrypted, and the messageType
// only after the signature: unauthenticated input never reaches the RA key.

import type { PrivateKeyOps } from '../../x509/keys.js';
import { digestFromOid } from './algorithms.js';
import { childrenOf, definiteBytes, integerBytes, parseBer, TAG } from './ber-reader.js';
import { openEnvelope, readEnvelope, type EnvelopeParts } from './enveloped-data.js';
import { ENVELOPE_UNREADABLE, malformed, ScepMessageError } from './errors.js';
import { CMS, SCEP_ATTR } from './oids.js';
import { readNonce, readNumberString, readTransactionId } from './scep-attributes.js';
import { readSignedData, soleSigner, verifySigner } from './signed-data.js';
import { MESSAGE_TYPE, type MessageType, type PkiMessage, type PkiPayload, type ReplyContext } from './types.js';

const REQUEST_TYPES: ReadonlySet<MessageType> = new Set(['PKCSReq', 'RenewalReq', 'CertPoll', 'GetCert', 'GetCRL']);

export async function readPkiMessage(
  der: Uint8Array,
  ra: { certificate: Uint8Array; key: PrivateKeyOps },
): Promise<PkiMessage> {
  const outer = readOuter(der);
  const { sd, signer, signerCertificate, reply, envelope, envelopeError } = outer;
  try {
    verifySigner(sd, signer, signerCertificate);

    const typeNumber = readNumberString(signer, SCEP_ATTR.messageType, 'messageType');
    if (typeNumber === null) throw malformed('messageType attribute missing');
    const messageType = messageTypeName(typeNumber);
    if (!messageType || !REQUEST_TYPES.has(messageType)) {
      throw new ScepMessageError('UNSUPPORTED_MESSAGE_TYPE', null, `messageType ${typeNumber} is not a supported request`);
    }

    if (sd.eContentType !== CMS.data || sd.eContent === null) throw malformed('the pkiMessage carries no pkcsPKIEnvelope');
    if (envelopeError) throw envelopeError;
    const { content, cipher } = openEnvelope(envelope as EnvelopeParts, ra);
    const payload = readPayload(messageType as PkiPayload['type'], content);
    return {
      messageType: payload.type,
      transactionId: reply.transactionId,
      senderNonce: reply.senderNonce,
      signerCertificate: reply.recipient,
      digest: reply.digest,
      cipher,
      payload,
      reply: { ...reply, cipher },
    };
  } catch (e) {
    if (e instanceof ScepMessageError) throw e.withContext(reply);
    throw e;
  }
}

/** Stage 1: everything needed to answer at all. Errors here have no context. */
function readOuter(der: Uint8Array) {
  try {
    const sd = readSignedData(der, 'pkiMessage');
    const { signer, certificate } = soleSigner(sd);
    const transactionId = readTransactionId(signer);
    if (transactionId === null) throw malformed('transactionID attribute missing');
    const senderNonce = readNonce(signer, 'senderNonce');
    if (senderNonce === null) throw malformed('senderNonce attribute missing');
    if (!certificate) throw malformed('the signer certificate is not in the SignedData');

    // Peek at the envelope only to learn the cipher for the reply context;
    // its errors are reported later, with context, after the signature check.
    let envelope: EnvelopeParts | null = null;
    let envelopeError: ScepMessageError | null = null;
    if (sd.eContent) {
      try {
        envelope = readEnvelope(sd.eContent);
      } catch (e) {
        envelopeError = e instanceof ScepMessageError ? e : malformed('pkcsPKIEnvelope unreadable');
      }
    }
    const reply: ReplyContext = {
      transactionId,
      senderNonce,
      recipient: certificate.der,
      digest: digestFromOid(signer.digestOid) ?? 'sha256',
      cipher: envelope?.cipher ?? 'des-ede3-cbc',
    };
    return { sd, signer, signerCertificate: certificate, reply, envelope, envelopeError };
  } catch (e) {
    if (e instanceof ScepMessageError) throw e;
    // asn1js can throw on inputs its schema-less parser did not foresee.
    throw new ScepMessageError('MESSAGE_MALFORMED', null, 'the pkiMessage could not be parsed', { cause: e });
  }
}

function messageTypeName(n: number): MessageType | null {
  for (const [name, value] of Object.entries(MESSAGE_TYPE)) if (value === n) return name as MessageType;
  return null;
}

/** Parses the decrypted messageData by messageType (RFC 8894 section 3.3). */
function readPayload(type: PkiPayload['type'], content: Uint8Array): PkiPayload {
  try {
    const node = parseBer(content, type);
    const parts = childrenOf(node, TAG.SEQUENCE, type);
    switch (type) {
      case 'PKCSReq':
      case 'RenewalReq': {
        // CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
        childrenOf(parts[0], TAG.SEQUENCE, 'certificationRequestInfo');
        childrenOf(parts[1], TAG.SEQUENCE, 'signatureAlgorithm');
        if (parts.length !== 3 || parts[2]?.idBlock.tagNumber !== TAG.BIT_STRING) throw malformed('not a PKCS#10 request');
        return { type, csr: content };
      }
      case 'CertPoll': {
        // IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name }
        if (parts.length !== 2) throw malformed('not an IssuerAndSubject');
        childrenOf(parts[0], TAG.SEQUENCE, 'issuer');
        childrenOf(parts[1], TAG.SEQUENCE, 'subject');
        return { type, issuer: definiteBytes(parts[0]!), subject: definiteBytes(parts[1]!) };
      }
      case 'GetCert':
      case 'GetCRL': {
        if (parts.length !== 2) throw malformed('not an IssuerAndSerialNumber');
        childrenOf(parts[0], TAG.SEQUENCE, 'issuer');
        return { type, issuer: definiteBytes(parts[0]!), serialNumber: integerBytes(parts[1], 'serialNumber') };
      }
    }
  } catch (e) {
    if (e instanceof ScepMessageError) throw new ScepMessageError('DECRYPTION_FAILED', null, ENVELOPE_UNREADABLE, { cause: e });
    throw e;
  }
}
