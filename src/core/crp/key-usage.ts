import { need, type Check } from './context.js';

/** When the CSR asks for keyUsage bits, each is one the profile allows. */
export const checkKeyUsage: Check = {
  name: 'keyUsage',
  summary: "requested key usages are within the resolved request's",
  refuses: ['KEY_USAGE_EXCEEDS_PROFILE'],
  async run(ctx) {
    const resolved = need(ctx.resolved, this.name, 'the resolved request');
    const asked = ctx.request.csr.keyUsage;
    if (asked === null) return null;
    const extra = asked.filter((u) => !resolved.keyUsage.includes(u));
    if (extra.length > 0) {
      return { code: 'KEY_USAGE_EXCEEDS_PROFILE', detail: `not allowed: ${extra.join(', ')}`, expected: resolved.keyUsage, received: asked };
    }
    return null;
  },
};
