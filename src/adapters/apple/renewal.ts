import type { Delivery } from '../../core/delivery.js';
import type { IssuedCertificate } from '../../core/model.js';
import { reissueAfterRevocation, renewalDue } from '../../core/renewal.js';
import { rolloverReissueDue } from '../../core/ca-rollover.js';
import { newestIssued } from './issued-certificates.js';
import type { InstallStep } from './plan.js';
import type { AppleState } from './state.js';

// Renewal before expiry: an installed profile whose certificate has used up
// (100 - renewalThresholdPercent)% of its lifetime gets a fresh InstallProfile.
// It keeps the PayloadIdentifier, so the device replaces the profile (and its
// certificate) rather than adding a second one. The lifetime comes from the
// certificate we issued (notBefore is backdated for clock skew; notAfter may be
// cut short by the CA's own expiry), never from "installed + validityDays".
// Pure: the caller lists the device's certificates and enqueues the steps.

/** Core's rule (core/renewal.ts), re-exported for this adapter's callers. */
export { renewalDue };

export interface RenewalStep extends InstallStep {
  /** Thumbprint of the certificate being replaced. */
  renewalOf: string;
  notAfter: string;
}

/** Whether any profile is installed at all (so a check-in with nothing installed costs no certificate lookup). */
export function anyInstalled(state: AppleState): boolean {
  return Object.values(state.profiles).some((r) => r.status === 'installed');
}

/** `currentCaId`: a certificate of a retired CA is renewed too, once the device acknowledged the roots profile (core/ca-rollover.ts). */
export function planRenewals(state: AppleState, deliveries: readonly Delivery[], certs: readonly IssuedCertificate[], now: Date, currentCaId?: string, activeCaIds?: ReadonlySet<string>): RenewalStep[] {
  const steps: RenewalStep[] = [];
  for (const d of deliveries) {
    if (!d.ok || d.profile.keyProtection === 'tpmRequired') continue;
    const p = d.profile;
    const rec = state.profiles[p.id];
    // Only a profile the device holds at the current version; anything else is planSync's (install, new version, retry).
    if (!rec || rec.status !== 'installed' || rec.version !== p.version) continue;
    // Its certificate was revoked while the profile still applies: install it again (a fresh challenge, the same identifier).
    if (reissueAfterRevocation(certs, p.id, rec.thumbprint)) {
      const held = newestIssued(certs, { profileId: p.id, profileVersion: p.version });
      if (held && rec.renewalOf !== held.thumbprint) {
        steps.push({ kind: 'InstallProfile', profileId: p.id, version: p.version, channel: rec.channel, identifier: rec.identifier, renewalOf: held.thumbprint, notAfter: held.notAfter });
      }
      continue;
    }
    const cert = newestIssued(certs, { profileId: p.id, profileVersion: p.version, unrevoked: true });
    // No record (a foreign SCEP server issued it): nothing to time the renewal by.
    if (!cert) continue;
    // Already renewed from this one and no newer certificate came of it: do not queue it again on every Idle.
    if (rec.renewalOf === cert.thumbprint) continue;
    const rollover = currentCaId !== undefined && rolloverReissueDue(cert, currentCaId, state.rootsHeld, activeCaIds);
    if (!rollover && !renewalDue(cert, p.renewalThresholdPercent, now)) continue;
    // The channel it is installed on: a replacement must land in the same scope (macOS user channel).
    steps.push({ kind: 'InstallProfile', profileId: p.id, version: p.version, channel: rec.channel, identifier: rec.identifier, renewalOf: cert.thumbprint, notAfter: cert.notAfter });
  }
  return steps;
}
