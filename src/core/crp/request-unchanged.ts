import { requestDigest } from '../profile/resolve.js';
import { need, type Check } from './context.js';
import { resolveNow } from './resolution.js';

/**
 * The request resolved now (current profile version, current directory) has
 * the digest the challenge committed to. A new profile version or a changed
 * attribute (renamed device, new UPN) makes the challenge stale: the device
 * gets a fresh one at its next check-in. On success the resolved request is
 * what the CSR is compared with and what the CA issues.
 */
export const checkRequestUnchanged: Check = {
  name: 'requestUnchanged',
  summary: 'the request resolved today has the digest the challenge carries (profile version and directory data unchanged)',
  refuses: ['REQUEST_CHANGED'],
  async run(ctx) {
    const claims = need(ctx.claims, this.name, 'verified challenge claims');
    const now = resolveNow(ctx, this.name);
    if (!now.ok) {
      return {
        code: 'REQUEST_CHANGED',
        detail: `{{${now.error.variable}}} (${now.error.field}) no longer has a value for the target`,
      };
    }
    const digest = requestDigest(now.resolved);
    if (digest !== claims.requestDigest) {
      const versionNow = now.resolved.profileVersion;
      return {
        code: 'REQUEST_CHANGED',
        detail:
          versionNow !== claims.profileVersion
            ? `the profile changed from version ${claims.profileVersion} to ${versionNow}`
            : 'directory attributes used by the profile changed for the target',
        expected: { profileVersion: claims.profileVersion, requestDigest: claims.requestDigest },
        received: { profileVersion: versionNow, requestDigest: digest },
      };
    }
    ctx.resolved = now.resolved;
    return null;
  },
};
