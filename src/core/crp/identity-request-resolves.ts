import { identityRequest } from '../profile/resolve.js';
import { need, type Check } from './context.js';

/**
 * The request is the gateway's fixed identity shape for the device
 * (profile/resolve.ts identityRequest): CN=<device id>, O=mdm-gateway device
 * identity, client authentication, keySize 2048. That, not the CSR's subject,
 * SANs or extensions, is what the CA issues: only the CSR's public key is
 * used. (MS-WSTEP clients put their own subject in the CSR, so it is not
 * compared.) Never refuses.
 */
export const checkIdentityRequestResolves: Check = {
  name: 'identityRequestResolves',
  summary: "the request is the gateway's identity shape for the device (CN=device id); the CSR contributes only its key",
  refuses: [],
  async run(ctx) {
    const basis = need(ctx.basis, this.name, 'what the request is for');
    if (basis.kind !== 'identity' || basis.target.kind !== 'device') throw new Error(`${this.name}: not an identity request for a device`);
    ctx.resolved = identityRequest({ id: basis.target.deviceId });
    return null;
  },
};
