import type { Check } from './context.js';

/** The CSR's self-signature verifies (proof of possession of the key). */
export const checkCsrSignature: Check = {
  name: 'csrSignature',
  summary: 'the CSR self-signature verifies (proof of possession)',
  refuses: ['CSR_SIGNATURE_INVALID'],
  async run({ request }) {
    return request.csr.signatureValid ? null : { code: 'CSR_SIGNATURE_INVALID' };
  },
};
