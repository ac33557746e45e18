import type { AdapterServices } from '../../core/adapter.js';
import type { Delivery } from '../../core/delivery.js';
import type { Device } from '../../core/model.js';
import { commandPlist } from './commands.js';
import type { PlistDict } from './plist-codec.js';
import { loadState, saveState } from './state.js';

// The next command for one channel of a device, as the plist to answer the
// connect request with (null: nothing to do). One command is in flight per
// channel; commands the device answered NotNow to wait for its next Idle; an
// InstallProfile whose profile version is no longer current is cancelled and
// the next one is tried.

/**
 * `prepared`: the device's deliveries when this request already planned them
 * (an Idle's syncDevice, under the same device lock): an InstallProfile is
 * rendered from those instead of planning the device again (issue 13).
 */
export async function nextCommand(s: AdapterServices, device: Device, channel: string, prepared?: readonly Delivery[]): Promise<PlistDict | null> {
  const state = await loadState(s, device.id);
  for (;;) {
    const next = await s.commands.next(device.id, channel, state.channels[channel]?.notNow ?? []);
    if (!next) return null;
    const built = await commandPlist(s, device, next, prepared);
    if (!built) {
      await s.commands.update(next.id, device.id, 'cancelled', { reason: 'the profile version is no longer assigned to this device' });
      if (next.profileId && state.profiles[next.profileId]?.commandId === next.id) delete state.profiles[next.profileId];
      await saveState(s, device.id, state);
      continue;
    }
    if (next.kind === 'InstallProfile' && next.profileId && next.profileVersion !== null) {
      const rec = state.profiles[next.profileId];
      if (rec && rec.commandId === next.id) {
        rec.status = 'sent';
        if (built.subject) rec.subject = built.subject;
        await saveState(s, device.id, state);
      }
      await s.report(device, { profileId: next.profileId, profileVersion: next.profileVersion, state: 'enrolling', detail: `InstallProfile sent (${next.id})` });
    }
    await s.audit('apple.command.sent', { commandId: next.id, kind: next.kind, channel, profileId: next.profileId }, { deviceId: device.id });
    return built.plist;
  }
}
