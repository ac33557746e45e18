import { keyPolicyRefusal } from '../key-policy.js';
import { need, type Check } from './context.js';

/** The profile's keySize is a floor on key strength, stated in RSA bits; the rule itself is core/key-policy.ts. */
export { EC_RSA_EQUIVALENT_BITS } from '../key-policy.js';

export const checkKeyAlgorithmAndSize: Check = {
  name: 'keyAlgorithmAndSize',
  summary: 'key algorithm and size by the key policy (RSA bits >= keySize; EC P-256 counts as RSA-3072, P-384 as RSA-7680)',
  refuses: ['KEY_TOO_SHORT', 'KEY_ALGORITHM_UNSUPPORTED'],
  async run(ctx) {
    const resolved = need(ctx.resolved, this.name, 'the resolved request');
    return keyPolicyRefusal(ctx.request.csr.publicKey, resolved.keySize);
  },
};
