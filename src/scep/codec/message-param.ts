// PKIOperation by GET carries the pkiMessage as base64 in ?message=. Clients
// and proxies mangle it in every possible way: not URL-encoded (so a query
// parser turns '+' into ' '), URL-encoded once or twice, wrapped at 64
// columns (certmonger/OpenSSL BIO base64), padding dropped. Undo all of that,
// and refuse anything that is still not base64.

import { ScepMessageError } from './errors.js';

export function decodeGetMessageParam(raw: string): Uint8Array {
  const bad = (detail: string): ScepMessageError =>
    new ScepMessageError('MESSAGE_MALFORMED', null, `message parameter: ${detail}`);
  let text = raw;
  // Base64 has no '%', so a '%' means URL encoding, possibly applied twice.
  for (let i = 0; i < 3 && text.includes('%'); i++) {
    try {
      text = decodeURIComponent(text);
    } catch {
      throw bad('broken URL encoding');
    }
  }
  text = text
    .replace(/[\r\n\t]/g, '') // line breaks of wrapped base64
    .replace(/ /g, '+') // an unescaped '+' that a query parser decoded as a space
    .replace(/-/g, '+') // base64url, just in case
    .replace(/_/g, '/')
    .replace(/=+$/, '');
  if (text.length === 0) throw bad('empty');
  if (!/^[A-Za-z0-9+/]+$/.test(text)) throw bad('not base64');
  if (text.length % 4 === 1) throw bad('truncated base64');
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  if (bytes.length === 0) throw bad('empty');
  return bytes;
}
