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
    // With a read cache, the target device's plan generations come in the same statement (read-cache.ts).
    const deviceId = claims.target.deviceId;
    let used: boolean;
    if (ctx.deps.readCache) {
      const r = await ctx.deps.storage.getChallengeUse(claims.id, deviceId);
      used = r.used;
      ctx.reads = { deviceId, generations: r.planGenerations };
    } else {
      used = await ctx.deps.storage.isChallengeUsed(claims.id);
    }
    if (used) {
      return { code: 'CHALLENGE_ALREADY_USED', detail: `challenge ${claims.id} was already used` };
    }
    return null;
  },
};
