// Public API of the SCEP codec: bytes in, typed values out; CertRep bytes out.
// Nothing here knows about HTTP, storage, policy or core: it imports only
// itself, src/x509 and packages (test/architecture.test.ts checks that).

export { readPkiMessage } from './read-pki-message.js';
export { writeCertRep, replyCipher, type CertRepArgs } from './write-cert-rep.js';
export { readCertsOnly, readCrls, writeCertsOnly } from './certs-only.js';
export { decodeGetMessageParam } from './message-param.js';
export { CODEC_FAILURES, ScepMessageError, type CodecFailure } from './errors.js';
export { FAIL_INFO_VALUE, type FailInfo } from './fail-info.js';
export {
  readCertRep,
  verifyCertRep,
  writePkiRequest,
  type CertRepHeader,
  type CertRepResult, type PkiRequestArgs, type PkiRequestPayload } from './client.js';
export {
  MESSAGE_TYPE,
  PKI_STATUS_VALUE,
  type ContentCipher,
  type DigestName,
  type MessageType,
  type PkiMessage,
  type PkiPayload,
  type PkiStatus,
  type ReplyContext,
} from './types.js';
export { CIPHER_OID, CMS, DIGEST_OID, SCEP_ATTR, SIGNATURE_OID } from './oids.js';
