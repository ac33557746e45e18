import type { AdapterServices } from '../../core/adapter.js';
import type { Delivery } from '../../core/delivery.js';
import type { Device } from '../../core/model.js';
import { commandPlist } from './commands.js';
import type { PlistDict } from './plist-codec.js';
import { ConnectWrites } from './connect-writes.js';
import { loadState } from './state.js';

// The next command for one channel of a device, as the plist to answer the
// connect request with (null: nothing to do). One command is in flight per
// channel; commands the device answered NotNow to wait for its next Idle; an
// InstallProfile whose profile version is no longer current is cancelled and
// the next one is tried.

/**
 * `prepared`: the device's deliveries when this request already planned them
 * (an Idle's syncDevice, under the same device lock): an InstallProfile is
 * rendered from those instead of planning the device again (issue 13).
 * `writes`: what this connect wrote so far (its answer to the last command):
 * the command sent now is written with it, in one transaction (connect-writes.ts).
 */
export async function nextCommand(s: AdapterServices, device: Device, channel: string, prepared?: readonly Delivery[], writes: ConnectWrites = new ConnectWrites(s, device)): Promise<PlistDict | null> {
  // Commands this request queued must be in the queue the next one is read from.
  if (writes.enqueued) await writes.commit();
  const state = writes.state ?? (await loadState(s, device.id));
  // Read, not taken: the take is written with the rest (a command taken meanwhile writes nothing: connect-writes.ts).
  const skip = [...(state.channels[channel]?.notNow ?? []), ...writes.settled];
  for (;;) {
    const next = await s.commands.peek(device.id, channel, skip);
    if (!next) {
      await writes.commit();
      return null;
    }
    const built = await commandPlist(s, device, next, prepared, state);
    if (!built) {
      writes.cancel(next.id, 'the profile version is no longer assigned to this device');
      skip.push(next.id);
      if (next.profileId && state.profiles[next.profileId]?.commandId === next.id) delete state.profiles[next.profileId];
      writes.saveState(state);
      continue;
    }
    writes.send(next);
    if (next.kind === 'InstallProfile' && next.profileId && next.profileVersion !== null) {
      const rec = state.profiles[next.profileId];
      if (rec && rec.commandId === next.id) {
        rec.status = 'sent';
        if (built.subject) rec.subject = built.subject;
        writes.saveState(state);
      }
      writes.report({ profileId: next.profileId, profileVersion: next.profileVersion, state: 'enrolling', detail: `InstallProfile sent (${next.id})` });
    }
    writes.audit('apple.command.sent', { commandId: next.id, kind: next.kind, channel, profileId: next.profileId });
    await writes.commit();
    return built.plist;
  }
}
