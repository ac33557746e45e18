// Removing RSAES-PKCS1-v1_5 padding (EM = 00 02 PS 00 CEK) without a padding
// oracle. Node 20 refuses this padding for private decryption (Marvin), so the
// RA key does a raw RSA operation and we unpad here:
// - the expected CEK length is known from the content cipher, so the
//   separator position is fixed and every check is a branch-free OR;
// - on any defect we return a random CEK of the right length (RFC 3218
//   section 2.3.2, "implicit rejection"): the content decryption then fails the
//   same way as with a wrong key, so the caller cannot tell the two apart.
// JavaScript gives no hard constant-time guarantee; this avoids the
// data-dependent branches and early exits that a remote attacker could time.

import { randomBytes } from 'node:crypto';

/**
 * @param em       result of the raw RSA private operation
 * @param modulusLength  k, the RSA modulus size in bytes (= encryptedKey length)
 * @param keyLength      expected CEK length in bytes
 */
export function unpadKeyTransport(em: Uint8Array, modulusLength: number, keyLength: number): Uint8Array {
  const random = new Uint8Array(randomBytes(keyLength));
  // Public facts (sizes) may branch; the ciphertext-dependent bytes may not.
  if (modulusLength < keyLength + 11 || em.length > modulusLength) return random;
  // A token may drop leading zero octets of the raw result: left-pad to k.
  const padded = new Uint8Array(modulusLength);
  padded.set(em, modulusLength - em.length);

  const separator = modulusLength - keyLength - 1;
  let bad = (padded[0] as number) | ((padded[1] as number) ^ 0x02) | (padded[separator] as number);
  for (let i = 2; i < separator; i++) bad |= ((padded[i] as number) - 1) >>> 31; // 1 iff the PS byte is 0
  // mask = 0xff when bad, 0x00 when good; bad is 0..255, so (bad | -bad) has the sign bit iff bad != 0.
  const mask = ((bad | -bad) >> 31) & 0xff;
  const out = new Uint8Array(keyLength);
  for (let i = 0; i < keyLength; i++) {
    out[i] = ((padded[separator + 1 + i] as number) & ~mask) | ((random[i] as number) & mask);
  }
  return out;
}
