import type { IssuedCertificate, RevocationReason } from './model.js';
import { renewalDue } from './renewal.js';
import type { IssuanceStore, AuditStore } from './storage/storage.js';

// Device identity renewal, the rules every platform shares (docs/lifecycle.md,
// "Renewal"). A device identity certificate (365 days) is renewed once the
// last IDENTITY_RENEWAL_THRESHOLD_PERCENT of its lifetime has begun: Windows
// through MS-WSTEP Renew, Apple by a re-delivered SCEP identity, Android by
// its agent's CSR. The renewal records renewalOf = the identity it renews.
//
// The old identity stays accepted until the new one is confirmed in use (the
// device authenticated with it): a device that got the new certificate but
// failed to install it still holds the old one and must not lose management.
// Then every older identity of the device is revoked with reason
// `superseded`, one by one (revokeCertificate: revoking the predecessor's
// chain would take the new one with it).
//
// Profile certificates follow the same rule, confirmed by the delivery
// report: once the device reports a certificate of a profile installed, the
// older certificates of that profile on that device are superseded (the
// platforms replace the certificate in place: same SCEP node, same
// PayloadIdentifier, same KeyChain alias).

/** The last 20% of the lifetime: 73 days of a 365-day identity. Windows' RenewPeriod is derived from it. */
export const IDENTITY_RENEWAL_THRESHOLD_PERCENT = 20;

export const SUPERSEDED: RevocationReason = 'superseded';

/** Whether the identity certificate is inside its renewal period. */
export function identityRenewalDue(cert: Pick<IssuedCertificate, 'notBefore' | 'notAfter'>, now: Date): boolean {
  return renewalDue(cert, IDENTITY_RENEWAL_THRESHOLD_PERCENT, now);
}

/**
 * Whether `older` is superseded by `newer` (a newer unrevoked identity of the
 * same device) right away: yes, unless `newer` is a renewal of `older` not yet
 * confirmed in use (then `older` would already be revoked).
 */
export function supersedesNow(newer: Pick<IssuedCertificate, 'renewalOf'>, older: Pick<IssuedCertificate, 'serialNumber'>): boolean {
  return newer.renewalOf !== older.serialNumber;
}

/**
 * The certificates `successor` replaces on its device, unrevoked and issued
 * before it: the device's older identities, or the older certificates of the
 * same profile (any version).
 */
export function replacedBy<C extends Pick<IssuedCertificate, 'serialNumber' | 'kind' | 'deviceId' | 'profileId' | 'issuedAt' | 'revokedAt'>>(successor: C, issued: readonly C[]): C[] {
  return issued.filter(
    (c) =>
      c.serialNumber !== successor.serialNumber &&
      c.revokedAt === null &&
      c.deviceId === successor.deviceId &&
      c.kind === successor.kind &&
      c.profileId === successor.profileId &&
      c.issuedAt < successor.issuedAt,
  );
}

/**
 * `successor` is confirmed on its device (authenticated with, or reported
 * installed): revokes what it replaced with reason `superseded`, each alone,
 * and audits it. Returns the serials revoked. A concurrent revocation of one
 * of them is no error (it stays as it was revoked).
 */
export async function revokeSuperseded(storage: IssuanceStore & AuditStore, successor: IssuedCertificate, at: Date, actor: string, issued?: readonly IssuedCertificate[]): Promise<string[]> {
  if (!successor.deviceId || successor.revokedAt !== null) return [];
  const all = issued ?? (await storage.listCertificates({ deviceId: successor.deviceId, kind: successor.kind, ...(successor.profileId && { profileId: successor.profileId }) }));
  const revoked: string[] = [];
  for (const old of replacedBy(successor, all)) {
    const r = await storage.revokeCertificate(old.serialNumber, at.toISOString(), SUPERSEDED);
    if (r.ok) revoked.push(old.serialNumber);
  }
  if (revoked.length > 0) {
    await storage.appendAudit({
      transactionId: null,
      type: 'certificate.superseded',
      reasonCode: null,
      actor,
      details: { kind: successor.kind, deviceId: successor.deviceId, profileId: successor.profileId, successor: successor.serialNumber, revoked },
    });
  }
  return revoked;
}
