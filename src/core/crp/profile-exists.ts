import { need, type Check } from './context.js';

/**
 * The profile still exists (not deleted) and, for a challenge, the version it
 * was minted for exists. Identity certificates have no profile: skipped.
 */
export const checkProfileExists: Check = {
  name: 'profileExists',
  summary: 'the profile (and the version a challenge names) exists; identity certificates have none',
  refuses: ['PROFILE_UNKNOWN'],
  async run(ctx) {
    const basis = need(ctx.basis, this.name, 'what the request is for');
    if (basis.kind === 'identity' || basis.profileId === null) {
      ctx.profile = null;
      return null;
    }
    const current = await ctx.deps.storage.getProfile(basis.profileId);
    if (!current) return { code: 'PROFILE_UNKNOWN', detail: `profile ${basis.profileId} does not exist or was deleted` };
    if (basis.profileVersion !== null && basis.profileVersion !== current.version) {
      const minted = await ctx.deps.storage.getProfile(basis.profileId, basis.profileVersion);
      if (!minted) {
        return {
          code: 'PROFILE_UNKNOWN',
          detail: `profile ${basis.profileId} has no version ${basis.profileVersion}`,
          expected: `version 1..${current.version}`,
          received: basis.profileVersion,
        };
      }
    }
    ctx.profile = current;
    return null;
  },
};
