import type { AdapterServices } from '../../core/adapter.js';
import type { DeviceCommand, IssuedCertificate } from '../../core/model.js';

// The certificates this gateway issued for a device's profile (core's
// issuance records), so the adapter need not ask the device which certificate
// a profile installed, nor guess when it expires.

/** The newest certificate issued for one profile version, optionally only those issued at or after `since` (ISO). */
export function newestIssued(
  certs: readonly IssuedCertificate[],
  want: { profileId: string; profileVersion: number; since?: string; unrevoked?: boolean },
): IssuedCertificate | null {
  const since = want.since === undefined ? -Infinity : Date.parse(want.since);
  let best: IssuedCertificate | null = null;
  for (const c of certs) {
    if (c.profileId !== want.profileId || c.profileVersion !== want.profileVersion) continue;
    if (want.unrevoked && c.revokedAt) continue;
    const at = Date.parse(c.issuedAt);
    if (!(at >= since)) continue;
    if (!best || at >= Date.parse(best.issuedAt)) best = c;
  }
  return best;
}

/**
 * The certificate an acknowledged InstallProfile installed: issued to this
 * device for the command's profile version at or after the command was sent.
 * Apple acknowledges a profile with a SCEP payload only after that enrollment
 * succeeded, and the challenge in it was minted at send time, so such a
 * certificate is the one the device holds. Revoked ones count: the question is
 * what the device holds, not whether it is still good.
 *
 * `cmd.updatedAt` is when core marked the command sent (the answer is recorded
 * after this runs), stamped by the same clock as `issuedAt`; the adapter's own
 * clock is not used here because tests move it. A command that is no longer
 * `sent` (a repeated answer) gets null, and the caller falls back to asking the device.
 */
export async function certificateInstalledBy(s: Pick<AdapterServices, 'certificates'>, deviceId: string, cmd: DeviceCommand): Promise<IssuedCertificate | null> {
  if (cmd.kind !== 'InstallProfile' || cmd.status !== 'sent' || !cmd.profileId || cmd.profileVersion === null) return null;
  const certs = await s.certificates.list({ deviceId, profileId: cmd.profileId });
  return newestIssued(certs, { profileId: cmd.profileId, profileVersion: cmd.profileVersion, since: cmd.updatedAt });
}
