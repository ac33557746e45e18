import type { AdapterServices } from '../../core/adapter.js';
import type { Device, Platform } from '../../core/model.js';
import { withDeviceLock } from './device-lock.js';
import type { Pusher } from './pusher.js';
import { DEVICE_CHANNEL, loadState, type AppleState } from './state.js';
import { syncDevice } from './sync.js';

// onDevicesChanged: core calls it after an admin change that may change which
// profiles these devices get (assignments, group membership, a profile version
// or deletion, a device's primary user). An iOS device only connects when it
// is pushed, so waiting for its next Idle could mean waiting forever: for each
// device with a live enrollment and a push token, run the same sync Idle runs
// (queue InstallProfile / RemoveProfile, report pending) and, when it queued
// anything, push the channels that got commands (the pusher's backoff and
// disabled tokens apply). A device without a push token, checked out, or whose
// token APNs disowned is skipped: its next check-in plans anyway, and planning
// for it now would only mint challenges nobody renders.

const APPLE_PLATFORMS: readonly Platform[] = ['ios', 'macos'];
/** Pushes in flight at once (one HTTP/2 connection; a large group should not open thousands of streams). */
const PUSH_CONCURRENCY = 16;

/** Whether a push could reach this enrollment: enrolled, not checked out, a device-channel token APNs has not disowned. */
export function pushable(state: AppleState): boolean {
  const ch = state.channels[DEVICE_CHANNEL];
  return state.enrolled && !state.checkedOutAt && !!ch?.token && !ch.push.disabled;
}

export async function devicesChanged(s: AdapterServices, pusher: Pusher, devices: readonly Device[], now: () => Date): Promise<void> {
  const failures: string[] = [];
  const inflight = new Set<Promise<void>>();
  const push = (deviceId: string, channel: string) => {
    const p = pusher
      .notify(deviceId, channel)
      .then((out) => {
        if (!out.sent) s.log.info({ deviceId, channel, why: out.why }, 'devices changed: commands queued, not pushed');
      })
      .catch((e: Error) => {
        failures.push(`${deviceId} push ${channel}: ${e.message}`);
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
    return p;
  };

  for (const id of new Set(devices.map((d) => d.id))) {
    let touched: Set<string> | null;
    try {
      touched = await withDeviceLock(s, id, async () => {
        const state = await loadState(s, id);
        if (!pushable(state)) return null;
        // The record as it is now (the caller's copy may predate the change, e.g. a new primary user).
        const device = await s.devices.get(id);
        if (!device || !APPLE_PLATFORMS.includes(device.platform)) return null;
        return syncDevice(s, device, { now: now() });
      });
    } catch (e) {
      failures.push(`${id}: ${(e as Error).message}`);
      continue;
    }
    if (!touched?.size) continue;
    s.log.info({ deviceId: id, channels: [...touched] }, 'devices changed: commands queued, pushing');
    // Pushed outside the lock: the push result is saved under it.
    for (const channel of touched) {
      if (inflight.size >= PUSH_CONCURRENCY) await Promise.race(inflight);
      void push(id, channel);
    }
  }
  await Promise.all(inflight);
  if (failures.length) throw new Error(`onDevicesChanged: ${failures.length} failure(s): ${failures.slice(0, 10).join('; ')}`);
}
