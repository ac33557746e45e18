import type { AdapterServices, Refusal } from '../../core/adapter.js';
import { identityRenewalDue } from '../../core/identity-renewal.js';
import type { IssuedCertificate } from '../../core/model.js';
import type { IdentityRenewalV1 } from './render.js';

// The agent renews its device identity certificate itself: while the
// certificate it authenticated with is inside its renewal period
// (core/identity-renewal.ts), the policy carries `identityRenewal`; the agent
// generates a new key and POSTs {csr} to /android/v1/identity/renew with the
// current identity, and gets the new certificate (core's
// renewIdentityCertificate: same device, unrevoked, due, same subject, key
// policy). The old identity keeps working until the agent first uses the new
// one; then core revokes it (superseded).

export const IDENTITY_RENEW_PATH = '/android/v1/identity/renew';

/** The block for the policy, when `current` (the presented identity) is due. */
export function identityRenewalBlock(s: Pick<AdapterServices, 'publicUrl'>, current: IssuedCertificate | null, keySize: number, now: Date): IdentityRenewalV1 | undefined {
  if (!current || current.kind !== 'identity' || current.revokedAt !== null || !identityRenewalDue(current, now)) return undefined;
  return { url: `${s.publicUrl}${IDENTITY_RENEW_PATH}`, subject: current.subject, keyAlgorithm: 'RSA', keySize, notAfter: current.notAfter };
}

/** HTTP status for a refused renewal: the device's mistake 400, too early 409, blocked 403, ours 503. */
export function renewalRefusalStatus(r: Refusal): number {
  if (r.code === 'INTERNAL_ERROR') return 503;
  if (r.code === 'DEVICE_BLOCKED') return 403;
  if (r.code === 'RENEWAL_NOT_DUE') return 409;
  if (r.code === 'RENEWAL_SIGNER_REVOKED' || r.code === 'RENEWAL_SIGNER_UNKNOWN' || r.code === 'RENEWAL_SIGNER_EXPIRED') return 401;
  return 400;
}
