import type { ResolvedRequest } from '../model.js';
import { identityRequest, resolveRequest, type AttributeMissing } from '../profile/resolve.js';
import { need, type CrpContext } from './context.js';

/**
 * The request as it resolves NOW: the identity shape, or the profile's
 * current version filled from the current directory entries.
 */
export function resolveNow(ctx: CrpContext, check: string): { ok: true; resolved: ResolvedRequest } | { ok: false; error: AttributeMissing } {
  const basis = need(ctx.basis, check, 'what the request is for');
  const device = need(ctx.targetDevice, check, 'the target device');
  const user = need(ctx.targetUser, check, 'the target user');
  if (basis.kind === 'identity') {
    if (!device) throw new Error(`${check}: an identity certificate needs a device target`);
    return { ok: true, resolved: identityRequest(device) };
  }
  const profile = need(ctx.profile ?? undefined, check, 'the profile');
  return resolveRequest(profile, basis.target, { user, device });
}
