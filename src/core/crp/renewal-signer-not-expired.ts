import { need, type Check } from './context.js';

/** The certificate authenticating the renewal has not expired (renew before, not after). */
export const checkRenewalSignerNotExpired: Check = {
  name: 'renewalSignerNotExpired',
  summary: 'the signing certificate has not expired',
  refuses: ['RENEWAL_SIGNER_EXPIRED'],
  async run(ctx) {
    const { record } = need(ctx.signer, this.name, 'the renewal signer');
    const now = ctx.deps.clock();
    if (now.getTime() >= Date.parse(record.notAfter)) {
      return {
        code: 'RENEWAL_SIGNER_EXPIRED',
        detail: `certificate ${record.serialNumber}`,
        expected: `before ${record.notAfter}`,
        received: now.toISOString(),
      };
    }
    return null;
  },
};
