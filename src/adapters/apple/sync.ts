import type { AdapterServices } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import { planSync, type InstallStep, type RemoveStep } from './plan.js';
import { anyInstalled, planRenewals, type RenewalStep } from './renewal.js';
import { DEVICE_CHANNEL, loadState, saveState } from './state.js';
import { issuedByRetiredCa } from '../../core/ca-rollover.js';
import { newestIssued } from './issued-certificates.js';
import { ENROLLMENT_IDENTIFIER } from './enrollment-profile.js';

// Applies a plan: cancels obsolete commands, enqueues InstallProfile /
// RemoveProfile (and InstallProfile again for certificates inside their
// renewal threshold), records each in the device state and reports "pending"
// for what was queued. Returns the channels that got new commands (to push).

export interface SyncOptions {
  /** The adapter's clock: renewal timing. */
  now: Date;
  retryFailed?: boolean;
  /** Told what the plan was made from (the Idle answer cache times its reuse by it: idle-cache.ts). */
  planned?: (p: { deliveries: Awaited<ReturnType<AdapterServices['deliveriesFor']>>; certs: Awaited<ReturnType<AdapterServices['certificates']['list']>> }) => void;
}

export async function syncDevice(s: AdapterServices, device: Device, opts: SyncOptions): Promise<Set<string>> {
  const state = await loadState(s, device.id);
  const touched = new Set<string>();
  if (!state.enrolled) return touched;
  const deliveries = await s.deliveriesFor(device);
  const plan = planSync(device.platform, state, deliveries, opts);
  // planSync leaves profiles installed at their current version alone; those are the only renewal candidates.
  const certs = anyInstalled(state) ? await s.certificates.list({ deviceId: device.id }) : [];
  const renewals = anyInstalled(state) ? planRenewals(state, deliveries, certs, opts.now, s.currentCaId, s.activeCaIds) : [];
  opts.planned?.({ deliveries, certs });
  // CA rollover: a device holding a retired CA's certificate first gets the roots profile (once per CA).
  if (state.rootsHeld !== s.currentCaId && state.rootsQueued !== s.currentCaId && holdsRetiredCertificate(state, certs, s.currentCaId, s.activeCaIds)) {
    await s.commands.enqueue({ deviceId: device.id, channel: DEVICE_CHANNEL, kind: 'InstallProfile', payload: { trust: s.currentCaId }, profileId: null, profileVersion: null });
    state.rootsQueued = s.currentCaId;
    touched.add(DEVICE_CHANNEL);
  }
  for (const c of plan.cancel) {
    await s.commands.update(c.commandId, device.id, 'cancelled', { reason: 'superseded or unassigned before it was sent' });
    delete state.profiles[c.profileId];
  }
  for (const id of plan.forget) delete state.profiles[id];
  const steps: (InstallStep | RemoveStep | RenewalStep)[] = [...plan.steps, ...renewals];
  for (const step of steps) {
    const cmd = await s.commands.enqueue({
      deviceId: device.id,
      channel: step.channel,
      kind: step.kind,
      payload: { identifier: step.identifier },
      profileId: step.profileId,
      profileVersion: step.version,
    });
    touched.add(step.channel);
    const renewal = 'renewalOf' in step ? step : null;
    state.profiles[step.profileId] = {
      version: step.version,
      channel: step.channel,
      identifier: step.identifier,
      status: step.kind === 'InstallProfile' ? 'queued' : 'removing',
      commandId: cmd.id,
      ...(renewal && { renewalOf: renewal.renewalOf }),
    };
    if (step.kind === 'InstallProfile') {
      // A renewal leaves the current certificate installed until the new profile replaces it.
      const detail = renewal
        ? `renewal: certificate ${renewal.renewalOf} (valid until ${renewal.notAfter}) is inside the renewal threshold and stays installed until replaced; InstallProfile queued (${cmd.id})`
        : `InstallProfile queued (${cmd.id})`;
      await s.report(device, { profileId: step.profileId, profileVersion: step.version, state: 'pending', detail });
    }
  }
  for (const r of plan.reports) await s.report(device, r);
  Object.assign(state.reportedErrors, plan.errorsReported);
  if (device.retiringSince !== null && !state.unenrollQueued) {
    // Retiring: after the profiles' RemoveProfile (queued above, fetched in
    // order), the MDM enrollment profile itself, so the device unenrolls.
    const cmd = await s.commands.enqueue({ deviceId: device.id, channel: DEVICE_CHANNEL, kind: 'RemoveProfile', payload: { identifier: ENROLLMENT_IDENTIFIER, unenroll: true }, profileId: null, profileVersion: null });
    state.unenrollQueued = cmd.id;
    touched.add(DEVICE_CHANNEL);
  }
  await saveState(s, device.id, state);
  return touched;
}

/** Whether an installed profile's certificate was signed by a CA other than the current one. */
function holdsRetiredCertificate(state: Awaited<ReturnType<typeof loadState>>, certs: Parameters<typeof newestIssued>[0], currentCaId: string, activeCaIds?: ReadonlySet<string>): boolean {
  return Object.entries(state.profiles).some(([profileId, rec]) => rec.status === 'installed' && issuedByRetiredCa(newestIssued(certs, { profileId, profileVersion: rec.version, unrevoked: true }) ?? undefined, currentCaId, activeCaIds));
}
