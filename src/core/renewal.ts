import type { IssuedCertificate } from './model.js';

// When a certificate on a device is due for re-issue, and which issued
// certificate says so: one rule for every adapter (Windows re-sends the SCEP
// node, Apple re-sends InstallProfile, Android tells its agent "renew").
// The lifetime is the certificate we issued when we know it: its notBefore is
// backdated for clock skew and its notAfter may be cut short by the CA's own
// expiry, so "installed + validityDays" is only an adapter's fallback.

/** A validity period as ISO timestamps. */
export interface Validity {
  notBefore: string;
  notAfter: string;
}

/**
 * Due once `now` is inside the last `thresholdPercent` of the validity (it has
 * used up (100 - thresholdPercent)% of its lifetime). A validity that cannot be
 * read is due: it is no reason to keep a certificate forever.
 */
export function renewalDue(validity: Validity, thresholdPercent: number, now: Date): boolean {
  return now.getTime() >= renewalDueAt(validity, thresholdPercent);
}

/** When renewalDue turns true (ms since the epoch; -Infinity when it always is): how long a cached check-in answer holds (core/checkin-cache.ts). */
export function renewalDueAt(validity: Validity, thresholdPercent: number): number {
  const from = Date.parse(validity.notBefore);
  const to = Date.parse(validity.notAfter);
  if (!(to > from)) return Number.NEGATIVE_INFINITY;
  return from + (to - from) * (1 - thresholdPercent / 100);
}

/** The fields the lookup reads; callers pass whole IssuedCertificates. */
export type IssuedFacts = Pick<IssuedCertificate, 'thumbprint' | 'profileId' | 'profileVersion' | 'notBefore' | 'notAfter' | 'issuedAt' | 'revokedAt'>;

/**
 * The issued certificate whose validity times a profile's renewal: among the
 * unrevoked ones for this profile version, the one the device reported
 * installed, else the newest. Preferring the reported one matters when a newer
 * one was issued but never installed (the device failed after SCEP): the
 * device still holds the old one, and that one has to be renewed in time.
 */
export function currentCertificate<C extends IssuedFacts>(issued: readonly C[], profileId: string, profileVersion: number, reportedThumbprint?: string): C | undefined {
  const current = issued.filter((c) => c.profileId === profileId && c.profileVersion === profileVersion && c.revokedAt === null);
  const reported = reportedThumbprint?.toUpperCase();
  const match = current.find((c) => c.thumbprint.toUpperCase() === reported);
  if (match) return match;
  return current.reduce<C | undefined>((newest, c) => (!newest || Date.parse(c.issuedAt) > Date.parse(newest.issuedAt) ? c : newest), undefined);
}

/**
 * Whether the certificate the device holds for a profile was revoked (e.g. an
 * administrator's revocation) and nothing newer replaced it: while the profile
 * still applies, it is delivered again (a fresh enrollment, not a renewal: the
 * CRP refuses a renewal signed by a revoked certificate). The held certificate
 * is the one the device reported (by thumbprint), else the newest one issued
 * for the profile; one we did not issue says nothing.
 */
export function reissueAfterRevocation(issued: readonly IssuedFacts[], profileId: string, heldThumbprint?: string): boolean {
  const mine = issued.filter((c) => c.profileId === profileId);
  const wanted = heldThumbprint?.toUpperCase();
  const newest = (cs: readonly IssuedFacts[]) => cs.reduce<IssuedFacts | undefined>((n, c) => (!n || Date.parse(c.issuedAt) > Date.parse(n.issuedAt) ? c : n), undefined);
  const held = wanted ? mine.find((c) => c.thumbprint.toUpperCase() === wanted) : newest(mine);
  if (!held || held.revokedAt === null) return false;
  // A newer unrevoked one was issued since (the re-delivery already happened; the device has not reported it yet).
  return !mine.some((c) => c.revokedAt === null && Date.parse(c.issuedAt) > Date.parse(held.issuedAt));
}
