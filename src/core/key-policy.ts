import type { CsrInfo } from './csr-info.js';
import type { Refusal } from './reasons.js';

/**
 * The one rule for which public keys the gateway certifies, used wherever a
 * key is judged: the CRP's key check (crp/key-algorithm.ts), which every row
 * runs, direct identity issuance's IdentityReq row and its dry run before the
 * token is spent (AdapterServices.precheckIdentityCsr) included, so a key one
 * of them accepts is never refused by another after something was spent.
 *
 * `minRsaBits` is a floor on key strength, stated in RSA bits.
 *   - RSA: modulus bits >= minRsaBits.
 *   - EC: P-256 and P-384 only, counted at their NIST SP 800-57 RSA
 *     equivalents (P-256 ~ RSA-3072, P-384 ~ RSA-7680): P-256 satisfies
 *     1024/2048, a 4096 floor needs P-384.
 *   - Anything else (Ed25519, P-521, P-192, secp256k1, brainpool, other):
 *     KEY_ALGORITHM_UNSUPPORTED; the built-in CA and the platforms' SCEP
 *     clients are RSA/ECDSA on the NIST curves above only. The CSR parser
 *     reports non-NIST curves as 0 bits, so none can pass as P-256.
 */
export const EC_RSA_EQUIVALENT_BITS: Readonly<Record<number, number>> = { 256: 3072, 384: 7680 };

export function keyPolicyRefusal(key: Pick<CsrInfo['publicKey'], 'algorithm' | 'bits'>, minRsaBits: number): Refusal | null {
  const { algorithm, bits } = key;
  if (algorithm === 'RSA') {
    if (bits < minRsaBits) return { code: 'KEY_TOO_SHORT', expected: `RSA >= ${minRsaBits} bits`, received: `RSA ${bits} bits` };
    return null;
  }
  if (algorithm === 'EC') {
    const equivalent = EC_RSA_EQUIVALENT_BITS[bits];
    if (equivalent === undefined) {
      return { code: 'KEY_ALGORITHM_UNSUPPORTED', expected: 'RSA, EC P-256 or EC P-384', received: `EC ${bits} bits` };
    }
    if (equivalent < minRsaBits) {
      return { code: 'KEY_TOO_SHORT', detail: `EC P-${bits} is comparable to RSA-${equivalent}`, expected: `RSA >= ${minRsaBits} bits or EC P-384`, received: `EC P-${bits}` };
    }
    return null;
  }
  return { code: 'KEY_ALGORITHM_UNSUPPORTED', expected: 'RSA, EC P-256 or EC P-384', received: `${algorithm} ${bits} bits` };
}
