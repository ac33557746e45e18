// The one error the codec throws for bad input. The reason code goes into the
// audit log and the CertRep failInfoText; the context decides whether the
// server can still answer with a signed CertRep FAILURE (context set) or must
// fall back to HTTP 400 (context null: we do not know whom to answer).

import { REASONS, type ReasonCode } from '../../core/reasons.js';
import type { ReplyContext } from './types.js';

export class ScepMessageError extends Error {
  readonly code: ReasonCode;
  readonly context: ReplyContext | null;
  /** Human detail, safe to log. */
  readonly detail: string;

  constructor(code: ReasonCode, context: ReplyContext | null, detail?: string, options?: { cause?: unknown }) {
    const text = detail ?? REASONS[code].text;
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
