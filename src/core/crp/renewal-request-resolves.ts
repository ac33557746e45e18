import { type Check } from './context.js';
import { resolveNow } from './resolution.js';

/**
 * A renewal is issued from the profile's CURRENT version, resolved for the
 * same target from the current directory (there is no challenge to compare
 * with). A template variable without a value refuses the renewal.
 */
export const checkRenewalRequestResolves: Check = {
  name: 'renewalRequestResolves',
  summary: "the profile's current version resolves for the target",
  refuses: ['ATTRIBUTE_MISSING'],
  async run(ctx) {
    const now = resolveNow(ctx, this.name);
    if (!now.ok) {
      return {
        code: 'ATTRIBUTE_MISSING',
        detail: `{{${now.error.variable}}} (${now.error.field}) has no value for the target`,
        expected: now.error.variable,
      };
    }
    ctx.resolved = now.resolved;
    return null;
  },
};
