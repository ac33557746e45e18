import { need, type Check } from './context.js';

/**
 * The challenge id is not spent yet. An early answer only: the spend itself
 * happens atomically with issuance (Storage.recordEnrollment), which is what
 * actually stops two concurrent requests.
 */
export const checkChallengeUnused: Check = {
  name: 'challengeUnused',
  summary: 'the challenge was not used before',
  refuses: ['CHALLENGE_ALREADY_USED'],
  async run(ctx) {
    const claims = need(ctx.claims, this.name, 'verified challenge claims');
    if (await ctx.deps.storage.isChallengeUsed(claims.id)) {
      return { code: 'CHALLENGE_ALREADY_USED', detail: `challenge ${claims.id} was already used` };
    }
    return null;
  },
};
