import type { Profile } from '../model.js';
import { need, type Check, type CrpContext } from './context.js';
import { stampOf } from './read-cache.js';

/** The profile (current when version is undefined), from the read cache when the request has one. */
function readProfile(ctx: CrpContext, profileId: string, version?: number): Promise<Profile | null> {
  const read = () => ctx.deps.storage.getProfile(profileId, version);
  const c = stampOf(ctx);
  return c ? c.cache.profile(c.stamp, profileId, version, read) : read();
}

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
    const current = await readProfile(ctx, basis.profileId);
    if (!current) return { code: 'PROFILE_UNKNOWN', detail: `profile ${basis.profileId} does not exist or was deleted` };
    if (basis.profileVersion !== null && basis.profileVersion !== current.version) {
      const minted = await readProfile(ctx, basis.profileId, basis.profileVersion);
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
