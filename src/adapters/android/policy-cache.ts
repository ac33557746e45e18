import type { ReadyDelivery } from '../../core/adapter.js';
import { CheckinCache } from '../../core/checkin-cache.js';
import { IDENTITY_RENEWAL_THRESHOLD_PERCENT } from '../../core/identity-renewal.js';
import type { Device, IssuedCertificate } from '../../core/model.js';
import { renewalDueAt } from '../../core/renewal.js';
import type { CheckinResult } from './checkin.js';
import { withIssuedValidity, type IssuedFacts } from './issued-certificates.js';
import type { AgentState } from './state.js';

// The policy fetch with nothing to do (every policy `keep`, no identity
// renewal) is answered from the last answer while nothing it depends on has
// changed (core/checkin-cache.ts): the plan generation, the device record, the
// identity the agent presents, the stored agent state, and the version the
// request asks for. A 304 is then an ETag comparison and a 200 the stored
// bytes: no deliveries prepared, no challenge minted, nothing rendered or hashed.

export interface PolicyAnswer {
  etag: string;
  contentType: string;
  body: string;
}

export function policyAnswers(): CheckinCache<PolicyAnswer> {
  return new CheckinCache<PolicyAnswer>();
}

/** Everything the answer depends on besides time, as one string. */
export function policyCacheKey(generation: string, device: Device, identityThumbprint: string, storedState: unknown, asked: { query: unknown; accept: string | undefined }): string {
  return JSON.stringify([generation, device, identityThumbprint, storedState, typeof asked.query === 'string' ? asked.query : null, asked.accept ?? null]);
}

/**
 * Until when the answer may be reused (ms since the epoch), or null when it
 * may not: something is to do (a policy to enroll or renew, the identity to
 * renew), or the check-in changed the state or reported something. Reusable
 * answers end when the first kept certificate, or the identity, enters its
 * renewal window.
 */
export function reusableUntil(
  result: CheckinResult,
  stateChanged: boolean,
  ready: readonly ReadyDelivery[],
  state: AgentState,
  issued: readonly IssuedFacts[],
  identity: Pick<IssuedCertificate, 'notBefore' | 'notAfter'> | null,
): number | null {
  if (stateChanged || result.reports.length > 0 || result.document.identityRenewal) return null;
  if (result.document.policies.some((p) => p.action !== 'keep')) return null;
  let until = identity ? renewalDueAt(identity, IDENTITY_RENEWAL_THRESHOLD_PERCENT) : Number.POSITIVE_INFINITY;
  for (const d of ready) {
    const installed = withIssuedValidity(state.installed[d.profile.id], issued, d.profile.id);
    if (installed) until = Math.min(until, renewalDueAt(installed, d.profile.renewalThresholdPercent));
  }
  return until;
}
