import type { AdapterServices } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import { planSync } from './plan.js';
import { loadState, saveState } from './state.js';

// Applies a plan: cancels obsolete commands, enqueues InstallProfile /
// RemoveProfile, records each in the device state and reports "pending" for
// what was queued. Returns the channels that got new commands (to push).

export async function syncDevice(s: AdapterServices, device: Device, opts: { retryFailed?: boolean } = {}): Promise<Set<string>> {
  const state = await loadState(s, device.id);
  const touched = new Set<string>();
  if (!state.enrolled) return touched;
  const deliveries = await s.deliveriesFor(device);
  const plan = planSync(device.platform, state, deliveries, opts);
  for (const c of plan.cancel) {
    await s.commands.update(c.commandId, device.id, 'cancelled', { reason: 'superseded or unassigned before it was sent' });
    delete state.profiles[c.profileId];
  }
  for (const id of plan.forget) delete state.profiles[id];
  for (const step of plan.steps) {
    const cmd = await s.commands.enqueue({
      deviceId: device.id,
      channel: step.channel,
      kind: step.kind,
      payload: { identifier: step.identifier },
      profileId: step.profileId,
      profileVersion: step.version,
    });
    touched.add(step.channel);
    state.profiles[step.profileId] = {
      version: step.version,
      channel: step.channel,
      identifier: step.identifier,
      status: step.kind === 'InstallProfile' ? 'queued' : 'removing',
      commandId: cmd.id,
    };
    if (step.kind === 'InstallProfile') {
      await s.report(device, { profileId: step.profileId, profileVersion: step.version, state: 'pending', detail: `InstallProfile queued (${cmd.id})` });
    }
  }
  for (const r of plan.reports) await s.report(device, r);
  Object.assign(state.reportedErrors, plan.errorsReported);
  await saveState(s, device.id, state);
  return touched;
}
