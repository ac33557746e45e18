import type { AssignmentTarget, Device, MemberRef } from './model.js';
import type { Storage } from './storage/storage.js';

// Which devices an admin change may affect, so adapters that must push (Apple)
// can tell those devices to check in. Over-approximating is harmless (a device
// checks in and finds nothing new); missing one is not, so when in doubt a
// device is included.

function dedupe(devices: Device[]): Device[] {
  return [...new Map(devices.map((d) => [d.id, d])).values()];
}

async function devicesOfMember(storage: Storage, m: MemberRef): Promise<Device[]> {
  if ('deviceId' in m) {
    const d = await storage.getDevice(m.deviceId);
    return d ? [d] : [];
  }
  return storage.listDevicesOfUser(m.userId);
}

/** Devices reached by assignments to these targets: a device, a user's devices, a group's device and user members. */
export async function devicesForTargets(storage: Storage, targets: AssignmentTarget[]): Promise<Device[]> {
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

/** Devices a profile reaches now, and those that reported on it (they may have to remove it). */
export async function devicesForProfile(storage: Storage, profileId: string): Promise<Device[]> {
  const targets = (await storage.listAssignments({ profileId })).map((a) => a.target);
  const reached = await devicesForTargets(storage, targets);
  const reported = await storage.listDeliveryStatus({ profileId });
  const extra = await Promise.all(reported.map((r) => storage.getDevice(r.deviceId)));
  return dedupe([...reached, ...extra.filter((d): d is Device => d !== null)]);
}

/** A group membership change: the member's devices. */
export function devicesForMember(storage: Storage, m: MemberRef): Promise<Device[]> {
  return devicesOfMember(storage, m);
}
