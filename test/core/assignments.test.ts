import { beforeEach, describe, expect, it } from 'vitest';
import { assignedProfiles, isAssigned } from '../../src/core/assignments.js';
import type { Device, Profile, User } from '../../src/core/model.js';
import type { Storage } from '../../src/core/storage/storage.js';
import { createProfile, newStorage } from './helpers.js';

let storage: Storage;
let alice: User;
let bob: User;
let laptop: Device;
let kiosk: Device;
let viaDevice: Profile, viaDeviceGroup: Profile, viaUser: Profile, viaUserGroup: Profile, unassigned: Profile, viaBob: Profile;

beforeEach(async () => {
  storage = await newStorage();
  alice = await storage.createUser({ userPrincipalName: 'alice@contoso.com', email: 'alice@contoso.com', displayName: 'Alice' });
  bob = await storage.createUser({ userPrincipalName: 'bob@contoso.com', email: 'bob@contoso.com', displayName: 'Bob' });
  laptop = await storage.createDevice({ name: 'LAPTOP-1', platform: 'windows', userId: alice.id });
  kiosk = await storage.createDevice({ name: 'KIOSK', platform: 'android' });
  const laptops = await storage.createGroup('Laptops');
  const staff = await storage.createGroup('Staff');
  await storage.addGroupMember(laptops.id, { deviceId: laptop.id });
  await storage.addGroupMember(staff.id, { userId: alice.id });
  viaDevice = await createProfile(storage, { name: 'device' });
  viaDeviceGroup = await createProfile(storage, { name: 'device group' });
  viaUser = await createProfile(storage, { name: 'user', scope: 'user', subjectName: 'CN={{UserPrincipalName}}' });
  viaUserGroup = await createProfile(storage, { name: 'user group', scope: 'user', subjectName: 'CN={{UserPrincipalName}}' });
  unassigned = await createProfile(storage, { name: 'unassigned' });
  viaBob = await createProfile(storage, { name: 'bob' });
  await storage.createAssignment(viaDevice.id, { deviceId: laptop.id });
  await storage.createAssignment(viaDeviceGroup.id, { groupId: laptops.id });
  await storage.createAssignment(viaUser.id, { userId: alice.id });
  await storage.createAssignment(viaUserGroup.id, { groupId: staff.id });
  // The same profile through two routes must appear once.
  await storage.createAssignment(viaUser.id, { groupId: laptops.id });
  await storage.createAssignment(viaBob.id, { userId: bob.id });
});

describe('assignedProfiles', () => {
  it('collects device, device-group, primary-user and user-group assignments once each', async () => {
    const names = (await assignedProfiles(storage, laptop)).map((p) => p.name).sort();
    expect(names).toEqual(['device', 'device group', 'user', 'user group']);
    expect(names).not.toContain(unassigned.name);
  });

  it('gives a device without assignments or user nothing', async () => {
    expect(await assignedProfiles(storage, kiosk)).toEqual([]);
  });

  it('follows the primary user when it changes', async () => {
    const moved = (await storage.updateDevice(laptop.id, { userId: bob.id }))!;
    expect((await assignedProfiles(storage, moved)).map((p) => p.name).sort()).toEqual(['bob', 'device', 'device group', 'user']);
  });

  it('returns current versions and skips deleted profiles', async () => {
    await storage.updateProfile(viaDevice.id, { ...viaDevice, name: 'device v2' });
    await storage.deleteProfile(viaDeviceGroup.id);
    const ps = await assignedProfiles(storage, laptop);
    expect(ps.find((p) => p.id === viaDevice.id)?.version).toBe(2);
    expect(ps.map((p) => p.id)).not.toContain(viaDeviceGroup.id);
  });
});

describe('isAssigned', () => {
  it('device target: device, its groups, its primary user and their groups', async () => {
    const t = { kind: 'device' as const, deviceId: laptop.id };
    for (const p of [viaDevice, viaDeviceGroup, viaUser, viaUserGroup]) expect(await isAssigned(storage, p.id, t), p.name).toBe(true);
    expect(await isAssigned(storage, unassigned.id, t)).toBe(false);
    expect(await isAssigned(storage, viaBob.id, t)).toBe(false);
    expect(await isAssigned(storage, viaDevice.id, { kind: 'device', deviceId: kiosk.id })).toBe(false);
    expect(await isAssigned(storage, viaDevice.id, { kind: 'device', deviceId: '00000000-0000-4000-8000-000000000000' })).toBe(false);
  });

  it('user target with a device: the user, their groups, the device and its groups', async () => {
    const t = { kind: 'user' as const, userId: alice.id, deviceId: laptop.id };
    for (const p of [viaDevice, viaDeviceGroup, viaUser, viaUserGroup]) expect(await isAssigned(storage, p.id, t), p.name).toBe(true);
    expect(await isAssigned(storage, viaBob.id, t)).toBe(false);
  });

  it('user target without a device: only user and user-group assignments', async () => {
    const t = { kind: 'user' as const, userId: alice.id, deviceId: null };
    expect(await isAssigned(storage, viaUser.id, t)).toBe(true);
    expect(await isAssigned(storage, viaUserGroup.id, t)).toBe(true);
    expect(await isAssigned(storage, viaDevice.id, t)).toBe(false);
    expect(await isAssigned(storage, viaDeviceGroup.id, t)).toBe(false);
  });
});
