import type { AssignmentTarget, Device, Profile, Target } from './model.js';
import type { DirectoryStore, ProfileStore, AssignmentStore } from './storage/storage.js';

// Which profiles apply to whom. One rule, used both when a device checks in
// (what to deliver) and when the CRP re-checks an enrollment (is it still
// assigned): a profile applies through an assignment to
//   - the device, or a group the device is in,
//   - the user the certificate is for (the device's primary user at check-in),
//     or a group that user is in.
// Groups are flat (no nesting).

async function refsFor(storage: DirectoryStore & ProfileStore & AssignmentStore, deviceId: string | null, userId: string | null): Promise<AssignmentTarget[]> {
  const members: ({ deviceId: string } | { userId: string })[] = [];
  if (deviceId !== null) members.push({ deviceId });
  if (userId !== null) members.push({ userId });
  // The device's and the user's groups in one read (issue 13).
  const groups = await storage.groupsOfMembers(members);
  return members.flatMap((m, i) => [m, ...groups[i]!.map((groupId) => ({ groupId }))]);
}

/** Current versions of every profile that applies to the device, each once, in assignment order. */
export async function assignedProfiles(storage: DirectoryStore & ProfileStore & AssignmentStore, device: Device): Promise<Profile[]> {
  // A retired device is out of service: nothing applies to it any more. A
  // retiring one neither: its platform removes what it holds (core/retirement.ts).
  if (device.retiredAt || device.retiringSince) return [];
  const refs = await refsFor(storage, device.id, device.userId);
  const assignments = await storage.assignmentsFor(refs);
  // Every assigned profile in one read (issue 13), in assignment order.
  return storage.getProfiles(assignments.map((a) => a.profileId));
}

/**
 * Whether the profile applies to the target by the rule above. A device target
 * counts the device's current primary user; a user target counts that user
 * and, when it names a device, the device (the CRP separately refuses a
 * device whose primary user is no longer the target user). A user target
 * without a device counts only user and user-group assignments.
 */
export async function isAssigned(
  storage: DirectoryStore & ProfileStore & AssignmentStore,
  profileId: string,
  target: Target,
  /** The target device as the caller just read it (the CRP's targetExists): not read again (issue 13). */
  known?: Device | null,
): Promise<boolean> {
  // One statement for the whole rule (storage isProfileAssigned), not a read per group list and one of the assignments (issue 13).
  if (target.kind === 'device') {
    const device = known?.id === target.deviceId ? known : await storage.getDevice(target.deviceId);
    if (!device) return false;
    return storage.isProfileAssigned(profileId, { deviceId: device.id, userId: device.userId });
  }
  return storage.isProfileAssigned(profileId, { deviceId: target.deviceId, userId: target.userId });
}
