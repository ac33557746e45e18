import { createHash } from 'node:crypto';

/** SHA-256 of a certificate's DER, colon-separated hex (what `openssl x509 -fingerprint -sha256` prints). */
export function certificateThumbprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}
