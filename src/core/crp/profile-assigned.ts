import { isAssigned } from '../assignments.js';
import { need, type Check } from './context.js';
import { stampOf } from './read-cache.js';

/** The profile is (still) assigned to the target, directly, via a group, or via the primary user. */
export const checkProfileAssigned: Check = {
  name: 'profileAssigned',
  summary: 'the profile is still assigned to the target (identity certificates: no profile)',
  refuses: ['PROFILE_NOT_ASSIGNED'],
  async run(ctx) {
    const basis = need(ctx.basis, this.name, 'what the request is for');
    if (basis.kind === 'identity' || basis.profileId === null) return null;
    const profileId: string = basis.profileId;
    const target = basis.target;
    const read = () => isAssigned(ctx.deps.storage, profileId, target, ctx.targetDevice);
    // A device's certificate: the answer may come from the read cache (read-cache.ts); a user's is read.
    const c = target.kind === 'device' ? stampOf(ctx) : null;
    if (!(await (c && target.kind === 'device' ? c.cache.assigned(c.stamp, target.deviceId, profileId, read) : read()))) {
      return { code: 'PROFILE_NOT_ASSIGNED', detail: `profile ${basis.profileId}`, received: basis.target };
    }
    return null;
  },
};
