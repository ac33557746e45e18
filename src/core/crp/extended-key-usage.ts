import { need, type Check } from './context.js';

/** When the CSR asks for extended key usages, each is one the profile allows. */
export const checkExtendedKeyUsage: Check = {
  name: 'extendedKeyUsage',
  summary: "requested EKUs are within the resolved request's",
  refuses: ['EKU_EXCEEDS_PROFILE'],
  async run(ctx) {
    const resolved = need(ctx.resolved, this.name, 'the resolved request');
    const asked = ctx.request.csr.extendedKeyUsages;
    if (asked === null) return null;
    const extra = asked.filter((oid) => !resolved.extendedKeyUsages.includes(oid));
    if (extra.length > 0) {
      return {
        code: 'EKU_EXCEEDS_PROFILE',
        detail: `not allowed: ${extra.join(', ')}`,
        expected: resolved.extendedKeyUsages,
        received: asked,
      };
    }
    return null;
  },
};
