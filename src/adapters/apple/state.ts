import { createHash } from 'node:crypto';
import type { AdapterServices } from '../../core/adapter.js';
import type { RdnAttribute } from '../../core/model.js';

// What the Apple adapter remembers per device (services.state, kept under
// "apple"): the facts Authenticate bound, one entry per channel (the device,
// and on macOS each user) with its push token, and one entry per certificate
// profile with where its InstallProfile stands. The unlock token itself is
// never stored: only whether the device sent one.

export const DEVICE_CHANNEL = 'device';
export const userChannel = (userId: string) => `user:${userId}`;

/**
 * User channels (macOS users) one device may have. The UserID comes from the
 * device, so without a cap a device could grow its own state, command queue
 * and every check-in's cost with each new UserID. Past the cap a new user
 * channel is refused (403) rather than an existing one evicted: evicting would
 * silently cut off a real user's profiles; a channel is freed by that user's
 * CheckOut or by re-enrollment.
 */
export const MAX_USER_CHANNELS = 16;

/** Superseded push tokens remembered per device (hashes), so an old signed TokenUpdate cannot be replayed to bring one back. */
export const MAX_SUPERSEDED_TOKENS = 32;

export interface ChannelState {
  /** APNs device token, hex. */
  token: string;
  pushMagic: string;
  unlockToken: boolean;
  userShortName?: string;
  userLongName?: string;
  updatedAt: string;
  /** Commands the device answered NotNow to since its last Idle: not offered again until then. */
  notNow: string[];
  push: { failures: number; backoffUntil?: string; disabled?: string; lastStatus?: number; lastAt?: string };
}

export type ProfileStatus = 'queued' | 'sent' | 'installed' | 'failed' | 'removing';

export interface ProfileRecord {
  version: number;
  channel: string;
  identifier: string;
  status: ProfileStatus;
  commandId: string;
  errorCode?: string;
  /** The resolved subject it was sent with (to find its certificate in a CertificateList). */
  subject?: RdnAttribute[];
  /** SHA-1 thumbprint of its certificate, once found. */
  thumbprint?: string;
  /** Set when this InstallProfile renews a certificate: that certificate's thumbprint (so it is renewed once). */
  renewalOf?: string;
}

export interface AppleState {
  enrolled: boolean;
  udid?: string;
  serialNumber?: string;
  model?: string;
  modelName?: string;
  productName?: string;
  deviceName?: string;
  osVersion?: string;
  buildVersion?: string;
  topic?: string;
  authenticatedAt?: string;
  checkedOutAt?: string;
  /** When the last enrollment profile was handed out (a checked-out device needs a new one to come back). */
  profileIssuedAt?: string;
  channels: Record<string, ChannelState>;
  profiles: Record<string, ProfileRecord>;
  /** Delivery errors already reported, `${profileId}:${version}` -> code, so each is reported once. */
  reportedErrors: Record<string, string>;
  /**
   * SHA-256 (hex, first 32 characters) of `${channel} ${token}` for push tokens a
   * newer TokenUpdate replaced, newest last, at most MAX_SUPERSEDED_TOKENS. Kept
   * across Authenticate (a re-enrollment sends its current token again, which is
   * not in here).
   */
  supersededTokens: string[];
  /** The MDM identity's renewal in flight or last answered (identity-renewal.ts). */
  identityRenewal?: { of: string; commandId: string; status: 'queued' | 'answered'; at: string };
  /** After a CA rollover: the CA (id) whose roots profile was queued, and the one the device acknowledged installing (core/ca-rollover.ts). */
  rootsQueued?: string;
  rootsHeld?: string;
  /** Retiring (core/retirement.ts): the RemoveProfile of the enrollment profile queued after the profiles' removals. */
  unenrollQueued?: string;
}

export function emptyState(): AppleState {
  return { enrolled: false, channels: {}, profiles: {}, reportedErrors: {}, supersededTokens: [] };
}

export async function loadState(s: AdapterServices, deviceId: string): Promise<AppleState> {
  const raw = (await s.state.get(deviceId)) as Partial<AppleState> | null;
  return { ...emptyState(), ...(raw ?? {}) } as AppleState;
}

export async function saveState(s: AdapterServices, deviceId: string, state: AppleState): Promise<void> {
  await s.state.put(deviceId, state as unknown as Record<string, unknown>);
}

export function newChannel(token: string, pushMagic: string, now: Date): ChannelState {
  return { token, pushMagic, unlockToken: false, updatedAt: now.toISOString(), notNow: [], push: { failures: 0 } };
}

/** How a superseded push token is remembered (a hash: the token itself is not kept twice). */
export function tokenMark(channel: string, tokenHex: string): string {
  return createHash('sha256').update(`${channel} ${tokenHex}`).digest('hex').slice(0, 32);
}
