// Server side: the CertRep pkiMessage (RFC 8894 section 3.3.2). Signed by the
// RA through PrivateKeyOps; on SUCCESS the issued certificate travels in a
// certs-only SignedData inside an EnvelopedData encrypted to the requester's
// signing certificate. FAILURE and PENDING carry no content: eContentType
// id-data with eContent absent, i.e. a signature over empty content.

import { randomBytes } from 'node:crypto';
import { FAIL_INFO_VALUE, type FailInfo } from './fail-info.js';
import type { KeyedCertificate } from '../../x509/keys.js';
import { sealEnvelope } from './enveloped-data.js';
import { ScepMessageError } from './errors.js';
import { scepAttribute } from './scep-attributes.js';
import { writeCertsOnlySignedData, writeSignedData } from './signed-data.js';
import { MESSAGE_TYPE, PKI_STATUS_VALUE, type ContentCipher, type PkiStatus, type ReplyContext } from './types.js';

export interface CertRepArgs {
  reply: ReplyContext;
  status: PkiStatus;
  /** FAILURE only; defaults to badRequest so a device always learns something. */
  failInfo?: FailInfo;
  /** FAILURE only; put the reason code first ("CHALLENGE_EXPIRED: ..."), never secrets. */
  failInfoText?: string;
  /** SUCCESS only: the issued certificate first, then its chain. */
  certificates?: Uint8Array[];
  /** SUCCESS only: the CRL a GetCRL asked for (then `certificates` may be empty). */
  crls?: Uint8Array[];
  /** The RA certificate and key. */
  signer: KeyedCertificate;
  /** CA certificates sent next to the RA certificate in the outer SignedData. */
  chain?: Uint8Array[];
  /**
   * FAILURE/PENDING content encoding. 'absent' (default, RFC 8894): eContent
   * omitted, a signature over empty content; OpenSSL's CMS_verify/PKCS7_verify
   * then want the (empty) content supplied as detached. 'empty': eContent
   * present as a zero-length OCTET STRING (what micromdm sends), which
   * OpenSSL-based clients verify without extra input. Same messageDigest.
   */
  emptyContent?: 'absent' | 'empty';
}

export async function writeCertRep(args: CertRepArgs): Promise<Uint8Array> {
  const { reply, status } = args;
  const attributes = [
    scepAttribute.messageType(MESSAGE_TYPE.CertRep),
    scepAttribute.pkiStatus(PKI_STATUS_VALUE[status]),
    scepAttribute.transactionId(reply.transactionId),
    scepAttribute.senderNonce(new Uint8Array(randomBytes(16))),
    scepAttribute.recipientNonce(reply.senderNonce),
  ];
  let eContent: Uint8Array | null = args.emptyContent === 'empty' ? new Uint8Array(0) : null;
  if (status === 'SUCCESS') {
    const issued = args.certificates ?? [];
    const crls = args.crls ?? [];
    if (issued.length === 0 && crls.length === 0) throw new TypeError('writeCertRep: SUCCESS needs the issued certificate or the CRL');
    try {
      eContent = sealEnvelope(writeCertsOnlySignedData(issued, crls), reply.recipient, replyCipher(reply.cipher));
    } catch (e) {
      // An EC requester certificate cannot receive RSA key transport: let the
      // server answer FAILURE badAlg to the same transaction instead.
      if (e instanceof ScepMessageError) throw e.withContext(reply);
      throw e;
    }
  } else if (status === 'FAILURE') {
    attributes.push(scepAttribute.failInfo(FAIL_INFO_VALUE[args.failInfo ?? 'badRequest']));
    if (args.failInfoText) attributes.push(scepAttribute.failInfoText(args.failInfoText));
  }
  return writeSignedData({
    eContent,
    certificates: [args.signer.certificate, ...(args.chain ?? [])],
    signer: args.signer,
    digest: reply.digest,
    attributes,
  });
}

/**
 * Mirror an AES request's key size; everything else (DES-EDE3, and single DES
 * from micromdm scepclient) gets DES-EDE3: every SCEP client decrypts it, and
 * we never emit single DES.
 */
export function replyCipher(requestCipher: ContentCipher): ContentCipher {
  return requestCipher.startsWith('aes-') ? requestCipher : 'des-ede3-cbc';
}
