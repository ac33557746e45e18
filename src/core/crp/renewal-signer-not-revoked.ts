import { need, type Check } from './context.js';

/** The certificate authenticating the renewal is not revoked. */
export const checkRenewalSignerNotRevoked: Check = {
  name: 'renewalSignerNotRevoked',
  summary: 'the signing certificate is not revoked',
  refuses: ['RENEWAL_SIGNER_REVOKED'],
  async run(ctx) {
    const { record } = need(ctx.signer, this.name, 'the renewal signer');
    if (record.revokedAt !== null) {
      return { code: 'RENEWAL_SIGNER_REVOKED', detail: `certificate ${record.serialNumber} revoked at ${record.revokedAt}` };
    }
    return null;
  },
};
