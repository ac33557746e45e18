import type { KeyObject } from 'node:crypto';
import { isAssigned } from '../assignments.js';
import { mintChallenge } from './token.js';
import type { Device, Profile, ResolvedRequest, Target, User } from '../model.js';
import { identityRequest, resolveRequest } from '../profile/resolve.js';
import type { DirectoryStore, ProfileStore, AssignmentStore } from '../storage/storage.js';

// Minting on demand, for the admin API (NDES's "give me a challenge for this
// network device" page) and for device identity. Check-in deliveries mint
// through core/delivery.ts.

export type MintResult =
  | { ok: true; token: string; id: string; expiresAt: Date; resolved: ResolvedRequest }
  | { ok: false; status: 400 | 404 | 409; message: string };

/** A disabled user's user-scope profiles no longer resolve for them (docs/lifecycle.md). */
const disabledUser = (u: User) => ({ ok: false as const, status: 409 as const, message: `user ${u.id} is disabled: user-scope profiles no longer resolve for them` });

export class ChallengeMinter {
  constructor(
    private readonly storage: DirectoryStore & ProfileStore & AssignmentStore,
    private readonly key: KeyObject,
    private readonly ttlSeconds: number,
    /** Told of every challenge minted (metrics). */
    private readonly onMint: (kind: 'profile' | 'identity') => void = () => {},
    private readonly now: () => Date = () => new Date(),
  ) {}

  async forProfile(profileId: string, ref: { deviceId: string } | { userId: string }): Promise<MintResult> {
    const profile = await this.storage.getProfile(profileId);
    if (!profile) return { ok: false, status: 404, message: 'profile not found' };
    const t = await this.target(profile, ref);
    if (!t.ok) return t;
    if (!(await isAssigned(this.storage, profile.id, t.target))) {
      return { ok: false, status: 409, message: 'the profile is not assigned to this target; create an assignment first' };
    }
    const r = resolveRequest(profile, t.target, { user: t.user, device: t.device });
    if (!r.ok) {
      const why = r.error.reportedConflict ? " (the value the device reported is also another device's)" : '';
      return { ok: false, status: 409, message: `${r.error.field}: the target has no value for {{${r.error.variable}}}${why}` };
    }
    return this.mint('profile', r.resolved);
  }

  async forIdentity(device: Device): Promise<MintResult> {
    return this.mint('identity', identityRequest(device));
  }

  private mint(kind: 'profile' | 'identity', resolved: ResolvedRequest): MintResult {
    const m = mintChallenge(this.key, { kind, resolved, ttlSeconds: this.ttlSeconds, now: this.now() });
    this.onMint(kind);
    return { ok: true, token: m.token, id: m.id, expiresAt: m.expiresAt, resolved };
  }

  private async target(
    profile: Profile,
    ref: { deviceId: string } | { userId: string },
  ): Promise<{ ok: true; target: Target; user: User | null; device: Device | null } | { ok: false; status: 400 | 404 | 409; message: string }> {
    if ('deviceId' in ref) {
      const device = await this.storage.getDevice(ref.deviceId);
      if (!device) return { ok: false, status: 404, message: 'device not found' };
      const user = device.userId ? await this.storage.getUser(device.userId) : null;
      if (profile.scope === 'device') return { ok: true, target: { kind: 'device', deviceId: device.id }, user, device };
      if (!user) return { ok: false, status: 400, message: 'user-scope profile: the device has no primary user' };
      if (!user.enabled) return disabledUser(user);
      return { ok: true, target: { kind: 'user', userId: user.id, deviceId: device.id }, user, device };
    }
    if (profile.scope === 'device') return { ok: false, status: 400, message: 'device-scope profile: give deviceId' };
    const user = await this.storage.getUser(ref.userId);
    if (!user) return { ok: false, status: 404, message: 'user not found' };
    if (!user.enabled) return disabledUser(user);
    return { ok: true, target: { kind: 'user', userId: user.id, deviceId: null }, user, device: null };
  }
}
