import { isAssigned } from '../assignments.js';
import { need, type Check } from './context.js';

/** The profile is (still) assigned to the target, directly, via a group, or via the primary user. */
export const checkProfileAssigned: Check = {
  name: 'profileAssigned',
  summary: 'the profile is still assigned to the target (identity certificates: no profile)',
  refuses: ['PROFILE_NOT_ASSIGNED'],
  async run(ctx) {
    const basis = need(ctx.basis, this.name, 'what the request is for');
    if (basis.kind === 'identity' || basis.profileId === null) return null;
    if (!(await isAssigned(ctx.deps.storage, basis.profileId, basis.target, ctx.targetDevice))) {
      return { code: 'PROFILE_NOT_ASSIGNED', detail: `profile ${basis.profileId}`, received: basis.target };
    }
    return null;
  },
};
