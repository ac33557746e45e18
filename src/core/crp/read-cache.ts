import type { Device, Profile, User } from '../model.js';
import type { PlanGenerations } from '../storage/plan-generation-store.js';
import { LruCache } from '../../x509/lru-cache.js';
import type { CrpContext } from './context.js';

// The CRP's reads that do not change from one enrollment to the next (issue
// 13): the profile and the version a challenge names, the target device, its
// primary user and whether the profile is assigned to it. They are kept
// across requests under the plan generations (core/plan-generation.ts), which
// every write that could change them advances, on any instance, in the
// database: a profile or assignment edit, a directory change or a group
// membership advances the global generation or the device's (a user's change
// advances the devices whose primary user it is). The generations are read on
// every enrollment, in the statement that also answers whether the challenge
// was spent (storage getChallengeUse: checkChallengeUnused), so a hit saves
// the reads and costs none.
//
// What is never kept: the challenge's use (read every time, and spent by the
// issuing transaction, which also re-checks the device's block), the issuing
// transaction itself, RenewalReq's reads (no challenge: no generations read),
// and a user certificate's reads (a user with no device has no generation of
// its own that its changes advance): those go to storage as before.
//
// A profile entry is keyed by the global generation only (profiles and their
// versions are global writes); a device entry by the global and the device's.
// Both also carry the local epoch (PlanGeneration.epoch: raised when this
// instance could not record a bump). An issuance advances its device's
// generation itself (kysely/issuance.ts) without changing anything kept here:
// when it moved the generation one step from the one an entry holds for, no
// other write came between, and the entry is carried to the new generation
// (noteIssued; several enrollments of one device in flight carry it in turn). A write that committed before that step but
// bumps after it (the proxy bumps once its call returned) still advances the
// generation before its caller is answered, so the next enrollment after an
// admin call returned sees it.

/** Profiles (id@version) and devices kept; each entry is a few hundred bytes. */
export const CRP_READ_CACHE_ENTRIES = 4_096;

interface DeviceEntry {
  /** The global key (globalKey) and the device's generation the entry holds for. */
  global: string;
  generation: number;
  device: Device;
  /** The device's primary user, once read (null: none, or not found). */
  user?: User | null;
  /** isAssigned per profile id. */
  assigned: Map<string, boolean>;
}

/** What checkChallengeUnused read: the device the generations are of, and the generations. */
export interface ReadStamp {
  deviceId: string | null;
  generations: PlanGenerations;
}

export class CrpReadCache {
  private readonly profiles: LruCache<string, { key: string; profile: Profile | null }>;
  private readonly devices: LruCache<string, DeviceEntry>;

  /** epoch: the local plan-generation epoch (PlanGeneration.epoch); a change drops every entry's key. */
  constructor(
    private readonly epoch: () => number = () => 0,
    capacity = CRP_READ_CACHE_ENTRIES,
  ) {
    this.profiles = new LruCache(capacity);
    this.devices = new LruCache(capacity);
  }

  private globalKey(g: PlanGenerations): string {
    return `${this.epoch()}:${g.global ?? ''}`;
  }

  /** The profile (current when version is undefined) as storage would read it now. */
  async profile(stamp: ReadStamp, profileId: string, version: number | undefined, read: () => Promise<Profile | null>): Promise<Profile | null> {
    const id = `${profileId}@${version ?? ''}`;
    const key = this.globalKey(stamp.generations);
    const kept = this.profiles.get(id);
    if (kept?.key === key) return kept.profile;
    const profile = await read();
    this.profiles.set(id, { key, profile });
    return profile;
  }

  /** The kept entry of the stamp's device, when it was read under the stamp's generations. */
  private entry(stamp: ReadStamp, deviceId: string): DeviceEntry | undefined {
    if (stamp.deviceId !== deviceId || stamp.generations.device === null) return undefined;
    const e = this.devices.get(deviceId);
    return e && e.generation === stamp.generations.device && e.global === this.globalKey(stamp.generations) ? e : undefined;
  }

  /** The device as storage would read it now (the stamp's device only; any other is read). */
  async device(stamp: ReadStamp, deviceId: string, read: () => Promise<Device | null>): Promise<Device | null> {
    const kept = this.entry(stamp, deviceId);
    if (kept) return kept.device;
    const device = await read();
    // An unknown device is not kept: its creation bumps nothing (plan-generation.ts createDevice).
    if (device && stamp.deviceId === deviceId && stamp.generations.device !== null) {
      this.devices.set(deviceId, { global: this.globalKey(stamp.generations), generation: stamp.generations.device, device, assigned: new Map() });
    }
    return device;
  }

  /** The device's primary user (device.userId), kept with the device's entry. */
  async primaryUser(stamp: ReadStamp, device: Device, read: () => Promise<User | null>): Promise<User | null> {
    const kept = this.entry(stamp, device.id);
    if (kept && kept.device.userId === device.userId && kept.user !== undefined) return kept.user;
    const user = await read();
    if (kept && kept.device.userId === device.userId) kept.user = user;
    return user;
  }

  /** Whether the profile is assigned to the device target, kept with the device's entry. */
  async assigned(stamp: ReadStamp, deviceId: string, profileId: string, read: () => Promise<boolean>): Promise<boolean> {
    const kept = this.entry(stamp, deviceId);
    const known = kept?.assigned.get(profileId);
    if (known !== undefined) return known;
    const assigned = await read();
    kept?.assigned.set(profileId, assigned);
    return assigned;
  }

  /**
   * An issuing transaction advanced the device's generation to `after` (one
   * step: its own bump): when the entry holds for the step before, nothing
   * else was written to the device in between, and it holds for `after` too.
   */
  noteIssued(deviceId: string, after: number | null | undefined): void {
    if (typeof after !== 'number') return;
    const kept = this.devices.get(deviceId);
    if (kept && kept.generation === after - 1) kept.generation = after;
  }
}

/** The stamp of this request, when the CRP has a read cache and the request read its generations. */
export function stampOf(ctx: CrpContext): { cache: CrpReadCache; stamp: ReadStamp } | null {
  const cache = ctx.deps.readCache;
  return cache && ctx.reads ? { cache, stamp: ctx.reads } : null;
}
