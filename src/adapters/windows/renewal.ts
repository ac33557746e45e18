import type { AdapterServices } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import { renewalDueAt } from '../../core/renewal.js';
import type { CertificateValidity, TrackedProfile } from './state.js';

// When an installed profile certificate is due for re-issue. The timing comes
// from the certificate we issued, found by the CertThumbprint the device
// reported: its notBefore is backdated for clock skew, its notAfter may be cut
// short by the CA's own expiry, and the device may report it sessions after it
// enrolled, so "reported installed + validityDays" is only a fallback for a
// thumbprint we cannot match (a certificate from another CA, a restored
// device, state written before the lookup existed).

const DAY_MS = 86_400_000;

/** Why the renewal time is a guess; goes into the `installed` delivery report's detail. */
export const ESTIMATE_DETAIL =
  'renewal is timed from this report plus the profile validity: the CertThumbprint matches no certificate this gateway issued to this device for this profile';

function estimate(from: string, validityDays: number): CertificateValidity {
  return { notBefore: from, notAfter: new Date(Date.parse(from) + validityDays * DAY_MS).toISOString(), source: 'estimate' };
}

/** The validity of the certificate the device holds for a profile: the issued one, else estimated from `reportedAt`. */
export async function installedValidity(
  s: Pick<AdapterServices, 'certificates'>,
  device: Pick<Device, 'id'>,
  profileId: string,
  thumbprint: string,
  reportedAt: string,
  validityDays: number,
): Promise<CertificateValidity> {
  const cert = await s.certificates.byThumbprint(thumbprint);
  // Only a certificate issued to this device for this profile says anything about this SCEP node.
  if (cert && cert.deviceId === device.id && cert.profileId === profileId) return { notBefore: cert.notBefore, notAfter: cert.notAfter, source: 'issued', issuerId: cert.issuerId };
  return estimate(reportedAt, validityDays);
}

/** Re-issue once the certificate has used up (100 - renewalThresholdPercent)% of its validity (core/renewal.ts). */
export function renewalDue(t: TrackedProfile, now: Date): boolean {
  return now.getTime() >= renewalDueTime(t);
}

/** When renewalDue turns true for this profile (ms since the epoch); +Infinity when it never does (not installed, no validity known). */
export function renewalDueTime(t: TrackedProfile): number {
  if (t.phase !== 'installed') return Number.POSITIVE_INFINITY;
  const v = t.validity ?? (t.installedAt ? estimate(t.installedAt, t.validityDays) : undefined);
  return v ? renewalDueAt(v, t.renewalThresholdPercent) : Number.POSITIVE_INFINITY;
}
