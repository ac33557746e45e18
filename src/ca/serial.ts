// Certificate serial numbers.
//
// 16 random bytes from crypto.randomBytes with the top bit cleared (so the DER
// INTEGER is positive without a 00 pad) and a non-zero first byte (so the
// encoding is minimal and always exactly 16 content bytes): about 127 bits of
// entropy, well above the CA/Browser Forum's 64-bit minimum, and within RFC
// 5280's 20-octet limit.
//
// Uniqueness: with 127 random bits a collision is negligible (birthday bound
// ~2^63 certificates); the storage layer's primary key on the serial number
// turns the theoretical collision into a failed insert instead of two
// certificates sharing a serial. No counter or lock is needed, so concurrent
// issuance (and several gateway instances sharing one database) cannot race,
// unlike counter-based serials.

import { randomBytes } from 'node:crypto';

export const SERIAL_BYTES = 16;

/** A fresh serial number as lower-case hex: exactly the DER INTEGER content bytes. */
export function randomSerialNumber(): string {
  for (;;) {
    const b = randomBytes(SERIAL_BYTES);
    b[0]! &= 0x7f;
    if (b[0] !== 0) return b.toString('hex');
  }
}
