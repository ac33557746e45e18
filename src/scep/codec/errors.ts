// The one error the codec throws for bad input. The code goes into the audit
// log and the CertRep failInfoText (each is also a core reason code: the
// service passes it on as one); the context decides whether the server can
// still answer with a signed CertRep FAILURE (context set) or must fall back
// to HTTP 400 (context null: we do not know whom to answer).

import type { ReplyContext } from './types.js';

/** The message-level failures the codec reports, with the default detail of each. */
export const CODEC_FAILURES = {
  MESSAGE_MALFORMED: 'the pkiMessage could not be parsed',
  MESSAGE_SIGNATURE_INVALID: 'the pkiMessage signature does not verify',
  UNSUPPORTED_ALGORITHM: 'a digest, signature or content-encryption algorithm is not supported',
  DECRYPTION_FAILED: 'the enveloped content could not be decrypted with the RA key',
  UNSUPPORTED_MESSAGE_TYPE: 'the SCEP messageType is not supported',
} as const;

export type CodecFailure = keyof typeof CODEC_FAILURES;

export class ScepMessageError extends Error {
  readonly code: CodecFailure;
  readonly context: ReplyContext | null;
  /** Human detail, safe to log. */
  readonly detail: string;

  constructor(code: CodecFailure, context: ReplyContext | null, detail?: string, options?: { cause?: unknown }) {
    const text = detail ?? CODEC_FAILURES[code];
    super(`${code}: ${text}`, options);
    this.name = 'ScepMessageError';
    this.code = code;
    this.context = context;
    this.detail = text;
  }

  /** The same refusal, now that we know whom to answer. */
  withContext(context: ReplyContext): ScepMessageError {
    return new ScepMessageError(this.code, context, this.detail, { cause: this.cause });
  }
}

/** Shorthands used throughout the codec; context is attached by the caller once known. */
export const malformed = (detail: string): ScepMessageError => new ScepMessageError('MESSAGE_MALFORMED', null, detail);
export const unsupportedAlgorithm = (detail: string): ScepMessageError =>
  new ScepMessageError('UNSUPPORTED_ALGORITHM', null, detail);

/**
 * One detail for every failure after key unwrapping (bad content padding,
 * unparsable payload): whether the content key came from a good PKCS#1
 * padding or from implicit rejection must not show in the answer.
 */
export const ENVELOPE_UNREADABLE =
  'the envelope could not be decrypted, or its content is not a valid payload for the messageType';
