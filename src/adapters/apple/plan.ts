import type { Delivery } from '../../core/delivery.js';
import type { DeliveryReport } from '../../core/adapter.js';
import type { Platform } from '../../core/model.js';
import { profileIdentifier } from './render.js';
import { DEVICE_CHANNEL, type AppleState } from './state.js';

// Which commands a check-in should queue: InstallProfile for every ready
// delivery not already installed (or on its way) at its current version,
// RemoveProfile for a profile the device holds that is no longer assigned.
// Pure: the caller enqueues and records the command ids.

export interface InstallStep {
  kind: 'InstallProfile';
  profileId: string;
  version: number;
  channel: string;
  identifier: string;
}
export interface RemoveStep {
  kind: 'RemoveProfile';
  profileId: string;
  version: number;
  channel: string;
  identifier: string;
}
export interface Plan {
  steps: (InstallStep | RemoveStep)[];
  /** Queued commands that will never be useful (their profile is gone): cancel them. */
  cancel: { commandId: string; profileId: string }[];
  reports: DeliveryReport[];
  /** Profiles to drop from the state without a command (failed, and no longer assigned). */
  forget: string[];
  /** Keys of state.reportedErrors to set (so each delivery error is reported once). */
  errorsReported: Record<string, string>;
}

/** macOS: a user-scope profile goes to a user channel (the most recently updated one). iOS: always the device channel. */
export function channelFor(platform: Platform, scope: 'user' | 'device', state: AppleState): string | null {
  if (platform !== 'macos' || scope === 'device') return DEVICE_CHANNEL;
  const users = Object.entries(state.channels)
    .filter(([name]) => name.startsWith('user:'))
    .sort(([, a], [, b]) => (a.updatedAt < b.updatedAt ? 1 : -1));
  return users[0]?.[0] ?? null;
}

export function planSync(platform: Platform, state: AppleState, deliveries: Delivery[], opts: { retryFailed?: boolean } = {}): Plan {
  const plan: Plan = { steps: [], cancel: [], reports: [], forget: [], errorsReported: {} };
  const assigned = new Set(deliveries.map((d) => d.profile.id));
  for (const d of deliveries) {
    const p = d.profile;
    const errKey = `${p.id}:${p.version}`;
    if (!d.ok) {
      if (state.reportedErrors[errKey] !== d.error.code) {
        plan.reports.push({ profileId: p.id, profileVersion: p.version, state: 'failed', errorCode: d.error.code, detail: d.error.message });
        plan.errorsReported[errKey] = d.error.code;
      }
      continue;
    }
    if (p.keyProtection === 'tpmRequired') {
      // Apple's SCEP payload cannot put the key in hardware: refuse rather than silently weaken the profile.
      const code = 'KEY_PROTECTION_UNSUPPORTED';
      if (state.reportedErrors[errKey] !== code) {
        plan.reports.push({ profileId: p.id, profileVersion: p.version, state: 'failed', errorCode: code, detail: 'keyProtection tpmRequired cannot be met by an Apple SCEP payload' });
        plan.errorsReported[errKey] = code;
      }
      continue;
    }
    const rec = state.profiles[p.id];
    if (rec && rec.version === p.version && (rec.status !== 'failed' || !opts.retryFailed) && rec.status !== 'removing') continue;
    const channel = channelFor(platform, p.scope, state);
    if (!channel) {
      const code = 'NO_USER_CHANNEL';
      if (state.reportedErrors[errKey] !== code) {
        plan.reports.push({ profileId: p.id, profileVersion: p.version, state: 'pending', detail: 'user-scope profile: waiting for a macOS user channel (a user logs in and the device sends TokenUpdate with UserID)' });
        plan.errorsReported[errKey] = code;
      }
      continue;
    }
    if (rec && rec.status === 'queued') plan.cancel.push({ commandId: rec.commandId, profileId: p.id });
    plan.steps.push({ kind: 'InstallProfile', profileId: p.id, version: p.version, channel, identifier: profileIdentifier(p.id) });
  }
  for (const [profileId, rec] of Object.entries(state.profiles)) {
    if (assigned.has(profileId)) continue;
    if (rec.status === 'queued') plan.cancel.push({ commandId: rec.commandId, profileId });
    else if (rec.status === 'failed') plan.forget.push(profileId);
    else if (rec.status === 'sent' || rec.status === 'installed') {
      plan.steps.push({ kind: 'RemoveProfile', profileId, version: rec.version, channel: rec.channel, identifier: rec.identifier });
    }
  }
  return plan;
}
