import type { Logger } from '../log.js';
import { assignedProfiles } from './assignments.js';
import type { Device, IssuedCertificate, PendingRemoval, Profile, RevocationReason } from './model.js';
import type { DirectoryStore, ProfileStore, IssuanceStore, AuditStore, AssignmentStore } from './storage/storage.js';

// Revoking a profile's certificates once the profile no longer reaches the
// device (an assignment or group membership gone, the profile deleted, the
// primary user changed). Revoking at once would cut a device off before its
// platform had a chance to remove the profile (and put a replacement in
// place); never revoking would leave a lost device on the network. So each
// such certificate is first a pending removal (stored, it survives restarts),
// and is revoked when the platform confirms the removal or when the grace
// period ends, whichever comes first. If the profile reaches the device again
// first, the pending removal is dropped and nothing is revoked.
//
// The state is re-derived from assignments every time (reconcile): admin
// changes, check-ins, removal reports and the housekeeping sweep all call it,
// so a change made through any route is picked up by the next of them.

export const REMOVAL_REVOCATION_REASON: RevocationReason = 'cessationOfOperation';

export interface RemovalDeps {
  storage: DirectoryStore & ProfileStore & AssignmentStore & IssuanceStore & AuditStore;
  /** How long a removed profile's certificate stays valid when the platform does not confirm the removal. */
  graceMs: number;
  log: Logger;
}

export interface Removals {
  /** Brings the device's pending removals up to date and revokes those whose grace has ended. Returns the serials revoked. */
  /** `assigned`: the device's assigned profiles as the caller just read them (assignedProfiles), so they are not read again. */
  reconcile(device: Device, now?: Date, assigned?: readonly Profile[]): Promise<string[]>;
  /** The platform says it removed the profile: its pending removals on the device are revoked now. */
  confirmRemoval(device: Device, profileId: string, now?: Date): Promise<string[]>;
  /** Housekeeping: every device with a removal whose grace has ended. Returns how many certificates were revoked. */
  sweep(now?: Date): Promise<number>;
}

/**
 * The unrevoked profile certificates on the device whose profile no longer
 * reaches it (and that revoke on removal), and the serials of all its
 * unrevoked profile certificates.
 */
async function staleCertificates(
  storage: DirectoryStore & ProfileStore & AssignmentStore & IssuanceStore & AuditStore,
  device: Device,
  assignedNow?: readonly Profile[],
): Promise<{ stale: IssuedCertificate[]; unrevoked: Set<string> }> {
  const current = (await storage.listCertificates({ deviceId: device.id, kind: 'profile' })).filter((c) => c.revokedAt === null && c.profileId !== null);
  const unrevoked = new Set(current.map((c) => c.serialNumber));
  if (current.length === 0) return { stale: [], unrevoked };
  const assigned = new Set((assignedNow ?? (await assignedProfiles(storage, device))).map((p) => p.id));
  const stale: IssuedCertificate[] = [];
  for (const c of current) {
    // A user certificate reaches the device only while that user is its primary user.
    const reaches = assigned.has(c.profileId!) && (c.userId === null || c.userId === device.userId);
    if (!reaches && (await revokesOnRemoval(storage, c))) stale.push(c);
  }
  return { stale, unrevoked };
}

/** The profile's current setting; for a deleted profile, the version the certificate was issued under. */
async function revokesOnRemoval(storage: DirectoryStore & ProfileStore & AssignmentStore & IssuanceStore & AuditStore, c: IssuedCertificate): Promise<boolean> {
  const p = (await storage.getProfile(c.profileId!)) ?? (c.profileVersion === null ? null : await storage.getProfile(c.profileId!, c.profileVersion));
  return p?.revokeOnRemoval ?? true;
}

export function removalTracker(deps: RemovalDeps): Removals {
  const { storage, graceMs } = deps;

  const audit = (type: string, details: Record<string, unknown>) =>
    storage.appendAudit({ transactionId: null, type, reasonCode: null, actor: 'gateway', details });

  async function revoke(p: PendingRemoval, at: Date, trigger: 'removal-confirmed' | 'removal-grace-ended'): Promise<string[]> {
    const revoked = await storage.revokePendingRemoval(p.serialNumber, at.toISOString(), REMOVAL_REVOCATION_REASON);
    if (revoked === null || revoked.length === 0) return [];
    await audit('lifecycle.certificate.revoked', {
      trigger,
      deviceId: p.deviceId,
      profileId: p.profileId,
      serialNumber: p.serialNumber,
      pendingSince: p.since,
      reason: REMOVAL_REVOCATION_REASON,
      revoked,
    });
    return revoked;
  }

  /** Pending removals as they should be now: stale ones added, those whose profile came back dropped. */
  async function update(device: Device, now: Date, assigned?: readonly Profile[]): Promise<PendingRemoval[]> {
    const { stale, unrevoked } = await staleCertificates(storage, device, assigned);
    const staleSerials = new Set(stale.map((c) => c.serialNumber));
    const pending = await storage.listPendingRemovals({ deviceId: device.id });
    // Revoked meanwhile (an administrator's revocation): nothing left to wait for.
    const settled = pending.filter((p) => !unrevoked.has(p.serialNumber));
    if (settled.length > 0) await storage.cancelPendingRemovals(settled.map((p) => p.serialNumber));
    // The profile reaches the device again (or revokeOnRemoval was turned off): nothing is revoked.
    const back = pending.filter((p) => unrevoked.has(p.serialNumber) && !staleSerials.has(p.serialNumber));
    if (back.length > 0) {
      await storage.cancelPendingRemovals(back.map((p) => p.serialNumber));
      await audit('lifecycle.removal.cancelled', { deviceId: device.id, certificates: back.map((p) => ({ serialNumber: p.serialNumber, profileId: p.profileId })) });
    }
    // Nothing stale (every check-in): no write, so the plan generation stays (core/plan-generation.ts).
    const added =
      stale.length === 0 ? [] : await storage.addPendingRemovals(stale.map((c) => ({ serialNumber: c.serialNumber, deviceId: device.id, profileId: c.profileId! })), now.toISOString());
    if (added.length > 0) {
      await audit('lifecycle.removal.pending', {
        deviceId: device.id,
        certificates: added.map((p) => ({ serialNumber: p.serialNumber, profileId: p.profileId })),
        revokeBy: new Date(now.getTime() + graceMs).toISOString(),
      });
    }
    const kept = pending.filter((p) => staleSerials.has(p.serialNumber));
    return [...kept, ...added];
  }

  const reconcile = async (device: Device, now = new Date(), assigned?: readonly Profile[]): Promise<string[]> => {
    const revoked: string[] = [];
    for (const p of await update(device, now, assigned)) {
      if (Date.parse(p.since) + graceMs <= now.getTime()) revoked.push(...(await revoke(p, now, 'removal-grace-ended')));
    }
    return revoked;
  };

  return {
    reconcile,
    async confirmRemoval(device, profileId, now = new Date()) {
      const revoked: string[] = [];
      for (const p of await update(device, now)) {
        if (p.profileId === profileId) revoked.push(...(await revoke(p, now, 'removal-confirmed')));
      }
      return revoked;
    },
    async sweep(now = new Date()) {
      const due = await storage.listPendingRemovals({ before: new Date(now.getTime() - graceMs + 1).toISOString() });
      let count = 0;
      for (const deviceId of new Set(due.map((p) => p.deviceId))) {
        const device = await storage.getDevice(deviceId);
        // A deleted device's certificates were revoked with it; a stray row just goes.
        if (!device) await storage.cancelPendingRemovals(due.filter((p) => p.deviceId === deviceId).map((p) => p.serialNumber));
        else count += (await reconcile(device, now)).length;
      }
      if (count > 0) deps.log.info({ revoked: count }, 'revoked certificates of profiles removed from devices (grace period ended)');
      return count;
    },
  };
}
