import type { Check } from './context.js';

/** The CSR carries a challengePassword at all. */
export const checkChallengePresent: Check = {
  name: 'challengePresent',
  summary: 'the CSR carries a challengePassword',
  refuses: ['CHALLENGE_MISSING'],
  async run({ request }) {
    const pw = request.csr.challengePassword;
    if (pw === null || pw.trim() === '') return { code: 'CHALLENGE_MISSING' };
    return null;
  },
};
