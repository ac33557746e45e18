import type { ReadyDelivery } from '../../core/adapter.js';
import type { InstalledCertificate, StoredChallenge } from './state.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import { challengeSpent, type IssuedFacts } from './issued-certificates.js';

// Which challenge a certificate policy carries. Core mints a fresh challenge
// for every delivery at every check-in; handing each one out would change the
// document (and its ETag) at every fetch. So the first one is kept and served
// again until it is used, stale or close to expiry:
//  - used: the agent reported the policy installed (or failed) after it was
//    minted, or we issued a certificate for the profile after it was minted
//    (the agent enrolled with it, whether or not it reported back);
//  - stale: it was minted for another profile version or another resolved
//    request (the CRP would refuse it as REQUEST_CHANGED);
//  - close to expiry: within REFRESH_MARGIN (or a quarter of its lifetime, if
//    shorter) of expiring, so the agent still has time to use it.

export const REFRESH_MARGIN_MS = 10 * 60_000;

/** SHA-256 of the canonical resolved request, hex: the delivery's own (core/delivery.ts), the same digest its challenge binds. */
export function requestHash(d: ReadyDelivery): string {
  return d.requestSha256 ?? sha256Hex(canonicalJson(d.resolved));
}

export type ChallengeDecision = { reuse: true; stored: StoredChallenge } | { reuse: false; fresh: StoredChallenge; why: 'none' | 'used' | 'stale' | 'expiring' };

export function decideChallenge(
  d: ReadyDelivery,
  stored: StoredChallenge | undefined,
  installed: InstalledCertificate | undefined,
  lastResultAt: string | undefined,
  now: Date,
  issued: readonly IssuedFacts[] = [],
): ChallengeDecision {
  const hash = requestHash(d);
  // Minted only when served: reading d.challenge signs one (core/delivery.ts), and a reused challenge needs none (issue 13).
  const fresh = (why: 'none' | 'used' | 'stale' | 'expiring'): ChallengeDecision => ({
    reuse: false,
    why,
    fresh: {
      profileVersion: d.profile.version,
      requestHash: hash,
      challenge: d.challenge,
      scepUrl: d.scepUrl,
      mintedAt: now.toISOString(),
      expiresAt: d.challengeExpiresAt.toISOString(),
    },
  });
  if (!stored) return fresh('none');
  if (stored.profileVersion !== d.profile.version || stored.requestHash !== hash) return fresh('stale');
  const minted = Date.parse(stored.mintedAt);
  const results = [installed?.reportedAt, lastResultAt].filter((x): x is string => x !== undefined).map(Date.parse);
  if (results.some((t) => t >= minted) || challengeSpent(issued, d.profile.id, stored.mintedAt)) return fresh('used');
  const expires = Date.parse(stored.expiresAt);
  const margin = Math.min(REFRESH_MARGIN_MS, (expires - minted) / 4);
  if (expires - now.getTime() <= margin) return fresh('expiring');
  return { reuse: true, stored };
}
