import type { AssignmentTarget, Device, MemberRef } from './model.js';
import type { DirectoryStore, AssignmentStore, IssuanceStore, DeliveryStore } from './storage/storage.js';

// Which devices an admin change may affect, so adapters that must push (Apple)
// can tell those devices to check in. Over-approximating is harmless (a device
// checks in and finds nothing new); missing one is not, so when in doubt a
// device is included.

function dedupe(devices: Device[]): Device[] {
  return [...new Map(devices.map((d) => [d.id, d])).values()];
}

async function devicesOfMember(storage: DirectoryStore & AssignmentStore & IssuanceStore & DeliveryStore, m: MemberRef): Promise<Device[]> {
  if ('deviceId' in m) {
    const d = await storage.getDevice(m.deviceId);
    return d ? [d] : [];
  }
  return storage.listDevicesOfUser(m.userId);
}

/** Devices reached by assignments to these targets: a device, a user's devices, a group's device and user members. */
export async function devicesForTargets(storage: DirectoryStore & AssignmentStore & IssuanceStore & DeliveryStore, targets: AssignmentTarget[]): Promise<Device[]> {
  const found: Device[] = [];
  for (const t of targets) {
    if ('groupId' in t) {
      for (const m of await storage.listGroupMembers(t.groupId)) found.push(...(await devicesOfMember(storage, m)));
    } else {
      found.push(...(await devicesOfMember(storage, t)));
    }
  }
  return dedupe(found);
}

/**
 * Devices a profile reaches now, those that reported on it and those holding
 * an unrevoked certificate of it (they may have to remove it, and its
 * certificates then wait for revocation: core/removals.ts).
 */
export async function devicesForProfile(storage: DirectoryStore & AssignmentStore & IssuanceStore & DeliveryStore, profileId: string): Promise<Device[]> {
  const targets = (await storage.listAssignments({ profileId })).map((a) => a.target);
  const reached = await devicesForTargets(storage, targets);
  const reported = (await storage.listDeliveryStatus({ profileId })).map((r) => r.deviceId);
  const holding = (await storage.listCertificates({ profileId })).filter((c) => c.revokedAt === null && c.deviceId !== null).map((c) => c.deviceId!);
  const extra = await Promise.all([...new Set([...reported, ...holding])].map((id) => storage.getDevice(id)));
  return dedupe([...reached, ...extra.filter((d): d is Device => d !== null)]);
}

/** A group membership change: the member's devices. */
export function devicesForMember(storage: DirectoryStore & AssignmentStore & IssuanceStore & DeliveryStore, m: MemberRef): Promise<Device[]> {
  return devicesOfMember(storage, m);
}
