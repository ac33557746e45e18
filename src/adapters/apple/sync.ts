import type { AdapterServices } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import { planSync, type InstallStep, type RemoveStep } from './plan.js';
import { anyInstalled, planRenewals, type RenewalStep } from './renewal.js';
import { DEVICE_CHANNEL, loadState } from './state.js';
import { ConnectWrites } from './connect-writes.js';
import { issuedByRetiredCa } from '../../core/ca-rollover.js';
import { newestIssued } from './issued-certificates.js';
import { ENROLLMENT_IDENTIFIER } from './enrollment-profile.js';

// Applies a plan: cancels obsolete commands, enqueues InstallProfile /
// RemoveProfile (and InstallProfile again for certificates inside their
// renewal threshold), records each in the device state and reports "pending"
// for what was queued. Returns the channels that got new commands (to push).
// Everything it writes goes through one ConnectWrites (connect-writes.ts):
// the caller's, committed by the caller with its own writes (a TokenUpdate:
// one transaction; an Idle: with the command it sends), or its own,
// committed here. Before, each command, report and the state was a commit.

export interface SyncOptions {
  /** The adapter's clock: renewal timing. */
  now: Date;
  retryFailed?: boolean;
  /** Told what the plan was made from (the Idle answer cache times its reuse by it: idle-cache.ts). */
  planned?: (p: { deliveries: Awaited<ReturnType<AdapterServices['deliveriesFor']>>; certs: Awaited<ReturnType<AdapterServices['certificates']['list']>> }) => void;
  /** The request's writes: the plan's are added to them, and the caller commits (its state, if it set one, is planned from). */
  writes?: ConnectWrites;
}

export async function syncDevice(s: AdapterServices, device: Device, opts: SyncOptions): Promise<Set<string>> {
  const writes = opts.writes ?? new ConnectWrites(s, device);
  const state = writes.state ?? (await loadState(s, device.id));
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
    writes.enqueue({ deviceId: device.id, channel: DEVICE_CHANNEL, kind: 'InstallProfile', payload: { trust: s.currentCaId }, profileId: null, profileVersion: null });
    state.rootsQueued = s.currentCaId;
    touched.add(DEVICE_CHANNEL);
  }
  for (const c of plan.cancel) {
    writes.cancel(c.commandId, 'superseded or unassigned before it was sent');
    delete state.profiles[c.profileId];
  }
  for (const id of plan.forget) delete state.profiles[id];
  const steps: (InstallStep | RemoveStep | RenewalStep)[] = [...plan.steps, ...renewals];
  for (const step of steps) {
    const commandId = writes.enqueue({
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
      commandId,
      ...(renewal && { renewalOf: renewal.renewalOf }),
    };
    if (step.kind === 'InstallProfile') {
      // A renewal leaves the current certificate installed until the new profile replaces it.
      const detail = renewal
        ? `renewal: certificate ${renewal.renewalOf} (valid until ${renewal.notAfter}) is inside the renewal threshold and stays installed until replaced; InstallProfile queued (${commandId})`
        : `InstallProfile queued (${commandId})`;
      writes.report({ profileId: step.profileId, profileVersion: step.version, state: 'pending', detail });
    }
  }
  writes.report(...plan.reports);
  Object.assign(state.reportedErrors, plan.errorsReported);
  if (device.retiringSince !== null && !state.unenrollQueued) {
    // Retiring: after the profiles' RemoveProfile (queued above, fetched in
    // order), the MDM enrollment profile itself, so the device unenrolls.
    state.unenrollQueued = writes.enqueue({ deviceId: device.id, channel: DEVICE_CHANNEL, kind: 'RemoveProfile', payload: { identifier: ENROLLMENT_IDENTIFIER, unenroll: true }, profileId: null, profileVersion: null });
    touched.add(DEVICE_CHANNEL);
  }
  writes.saveState(state);
  if (!opts.writes) await writes.commit();
  return touched;
}

/** Whether an installed profile's certificate was signed by a CA other than the current one. */
function holdsRetiredCertificate(state: Awaited<ReturnType<typeof loadState>>, certs: Parameters<typeof newestIssued>[0], currentCaId: string, activeCaIds?: ReadonlySet<string>): boolean {
  return Object.entries(state.profiles).some(([profileId, rec]) => rec.status === 'installed' && issuedByRetiredCa(newestIssued(certs, { profileId, profileVersion: rec.version, unrevoked: true }) ?? undefined, currentCaId, activeCaIds));
}
