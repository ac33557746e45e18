import { need, type Check } from './context.js';

/** Now is before the challenge's expiry. */
export const checkChallengeNotExpired: Check = {
  name: 'challengeNotExpired',
  summary: 'the challenge has not expired',
  refuses: ['CHALLENGE_EXPIRED'],
  async run(ctx) {
    const claims = need(ctx.claims, this.name, 'verified challenge claims');
    const now = ctx.deps.clock();
    if (now.getTime() >= claims.expiresAt.getTime()) {
      return {
        code: 'CHALLENGE_EXPIRED',
        detail: `challenge ${claims.id} expired`,
        expected: `before ${claims.expiresAt.toISOString()}`,
        received: now.toISOString(),
      };
    }
    return null;
  },
};
