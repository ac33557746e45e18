import type { Delivery } from '../../core/delivery.js';
import { CheckinCache } from '../../core/checkin-cache.js';
import { IDENTITY_RENEWAL_THRESHOLD_PERCENT } from '../../core/identity-renewal.js';
import type { Device, IssuedCertificate } from '../../core/model.js';
import { renewalDueAt } from '../../core/renewal.js';
import { newestIssued } from './issued-certificates.js';
import type { AppleState } from './state.js';

// Idle on the device channel with nothing to do (nothing queued, nothing to
// plan, the state left as it was) is answered with the empty 200 again while
// nothing it depends on changed (core/checkin-cache.ts): the plan generation,
// the device record, the identity that signed the message, the stored Apple
// state and the UDID the message names. The queue is still read on every
// Idle (a command queued by the admin is fetched at once); the signature, the
// identity's revocation, blocking and retirement are checked before (routes.ts).

export function idleAnswers(): CheckinCache<true> {
  return new CheckinCache<true>();
}

/** Everything an empty Idle answer depends on besides time and the queue, as one string. */
export function idleCacheKey(generation: string, device: Device, identityThumbprint: string | null, storedState: unknown, udid: string): string {
  return JSON.stringify([generation, device, identityThumbprint, storedState, udid]);
}

/**
 * Until when the empty answer may be reused (ms since the epoch): the first
 * moment a certificate the device holds at its current profile version (as
 * planRenewals times it, renewal.ts), or the identity that signed, enters its
 * renewal window; null when the identity already is in it (its re-delivery is
 * timed by identity-renewal.ts on every Idle).
 */
export function idleReusableUntil(state: AppleState, deliveries: readonly Delivery[], certs: readonly IssuedCertificate[], identity: Pick<IssuedCertificate, 'notBefore' | 'notAfter'> | null, now: Date): number | null {
  let until = identity ? renewalDueAt(identity, IDENTITY_RENEWAL_THRESHOLD_PERCENT) : Number.POSITIVE_INFINITY;
  if (until <= now.getTime()) return null;
  for (const d of deliveries) {
    if (!d.ok) continue;
    const rec = state.profiles[d.profile.id];
    if (!rec || rec.status !== 'installed' || rec.version !== d.profile.version) continue;
    const cert = newestIssued(certs, { profileId: d.profile.id, profileVersion: d.profile.version, unrevoked: true });
    if (cert) until = Math.min(until, renewalDueAt(cert, d.profile.renewalThresholdPercent));
  }
  return until;
}
