import { need, type Check } from './context.js';

/**
 * The profile's keySize is a floor on key strength, stated in RSA bits.
 *   - RSA: modulus bits >= keySize.
 *   - EC: P-256 and P-384 only, counted at their NIST SP 800-57 RSA
 *     equivalents (P-256 ~ RSA-3072, P-384 ~ RSA-7680): P-256 satisfies
 *     keySize 1024/2048, a 4096 profile needs P-384.
 *   - Anything else (Ed25519, P-521, other): KEY_ALGORITHM_UNSUPPORTED; the
 *     built-in CA and the platforms' SCEP clients are RSA/ECDSA only.
 */
export const EC_RSA_EQUIVALENT_BITS: Readonly<Record<number, number>> = { 256: 3072, 384: 7680 };

export const checkKeyAlgorithmAndSize: Check = {
  name: 'keyAlgorithmAndSize',
  async run(ctx) {
    const resolved = need(ctx.resolved, this.name, 'the resolved request');
    const { algorithm, bits } = ctx.request.csr.publicKey;
    const min = resolved.keySize;
    if (algorithm === 'RSA') {
      if (bits < min) return { code: 'KEY_TOO_SHORT', expected: `RSA >= ${min} bits`, received: `RSA ${bits} bits` };
      return null;
    }
    if (algorithm === 'EC') {
      const equivalent = EC_RSA_EQUIVALENT_BITS[bits];
      if (equivalent === undefined) {
        return { code: 'KEY_ALGORITHM_UNSUPPORTED', expected: 'RSA, EC P-256 or EC P-384', received: `EC ${bits} bits` };
      }
      if (equivalent < min) {
        return { code: 'KEY_TOO_SHORT', detail: `EC P-${bits} is comparable to RSA-${equivalent}`, expected: `RSA >= ${min} bits or EC P-384`, received: `EC P-${bits}` };
      }
      return null;
    }
    return { code: 'KEY_ALGORITHM_UNSUPPORTED', expected: 'RSA, EC P-256 or EC P-384', received: `${algorithm} ${bits} bits` };
  },
};
