import type { Logger } from '../log.js';
import type { Device, RevocationReason } from './model.js';
import type { DirectoryStore, DeliveryStore, AuditStore } from './storage/storage.js';

// Retiring a device (POST /api/v1/devices/:id/retire; docs/lifecycle.md) in
// two steps. Revoking its identity at once would leave every profile we
// delivered (Wi-Fi, VPN, their certificates) on the device for good: it could
// never check in to be told to remove them. So:
//   1. at once: its profile certificates are revoked (network access ends) and
//      the device is *retiring*: nothing applies to it any more
//      (core/assignments.ts), so its next check-in gets the removal of every
//      profile from its platform, and no new certificate (storage, CRP);
//   2. its identity is revoked (the device is *retired*) when the platform
//      confirms the removals, or when the removal grace period ends, whichever
//      comes first (the sweep runs with housekeeping; device authentication
//      refuses a retiring device past its grace even before the sweep).

/** A device that leaves service for good (retired, deleted). */
export const RETIRE_REVOCATION_REASON: RevocationReason = 'cessationOfOperation';

/** Delivery states that mean a profile may still be on the device (a removal or failure means it is not). */
const ON_DEVICE = new Set(['pending', 'enrolling', 'installed']);

export interface RetirementDeps {
  storage: DirectoryStore & DeliveryStore & AuditStore;
  /** How long a retiring device keeps its identity when its platform does not confirm the removals (MDMGW_REMOVAL_GRACE_HOURS). */
  graceMs: number;
  log: Logger;
}

export type RetireCompletion = 'confirmed' | 'grace';

export interface Retirement {
  /** Ends the retirement of a retiring device: its identity (and anything left) is revoked. Returns the serials revoked, null when it was not retiring. */
  complete(device: Device, how: RetireCompletion, now: Date, detail: string): Promise<string[] | null>;
  /** Completes the retirement when no profile is left on the device by its delivery reports. */
  completeIfRemoved(device: Device, now: Date): Promise<string[] | null>;
  /** Whether the device is retiring and its grace period has ended. */
  graceEnded(device: Device, now: Date): boolean;
  /** Housekeeping: completes every retirement whose grace period ended. Returns how many. */
  sweep(now: Date): Promise<number>;
}

export function retirementTracker(deps: RetirementDeps): Retirement {
  const { storage, graceMs } = deps;

  const complete: Retirement['complete'] = async (device, how, now, detail) => {
    // Re-read: the caller's copy may predate the admin's retire or another completion.
    const current = await storage.getDevice(device.id);
    if (!current || current.retiringSince === null || current.retiredAt !== null) return null;
    const result = await storage.retireDevice(device.id, now.toISOString(), RETIRE_REVOCATION_REASON);
    if (!result.ok) return null; // completed meanwhile by another route
    await storage.appendAudit({
      transactionId: null,
      type: 'device.retire.completed',
      reasonCode: null,
      actor: how === 'confirmed' ? `device:${device.id}` : 'gateway',
      details: { deviceId: device.id, how, detail, retiringSince: current.retiringSince, reason: RETIRE_REVOCATION_REASON, revoked: result.revoked },
    });
    deps.log.info({ deviceId: device.id, how, revoked: result.revoked }, 'device retired');
    return result.revoked;
  };

  return {
    complete,
    async completeIfRemoved(device, now) {
      if (device.retiringSince === null || device.retiredAt !== null) return null;
      const left = (await storage.listDeliveryStatus({ deviceId: device.id })).filter((s) => ON_DEVICE.has(s.state));
      if (left.length > 0) return null;
      return complete(device, 'confirmed', now, 'the platform reported every profile removed');
    },
    graceEnded(device, now) {
      return device.retiringSince !== null && device.retiredAt === null && Date.parse(device.retiringSince) + graceMs <= now.getTime();
    },
    async sweep(now) {
      let count = 0;
      for (const device of await storage.listRetiringDevices(new Date(now.getTime() - graceMs + 1).toISOString())) {
        if ((await complete(device, 'grace', now, 'the removal grace period ended')) !== null) count++;
      }
      if (count > 0) deps.log.info({ devices: count }, 'retired devices whose removal grace period ended');
      return count;
    },
  };
}
