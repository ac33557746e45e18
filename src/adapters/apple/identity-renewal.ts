import type { AdapterServices } from '../../core/adapter.js';
import { identityRenewalDue } from '../../core/identity-renewal.js';
import type { Device, DeviceCommand } from '../../core/model.js';
import type { ConnectMessage } from './messages.js';
import { enrollmentProfile } from './enrollment-profile.js';
import { toXmlBytes, type PlistDict } from './plist-codec.js';
import { DEVICE_CHANNEL, type AppleState } from './state.js';

// Renewal of the MDM identity before it expires (core/identity-renewal.ts:
// the last 20% of its 365 days). The enrollment profile is sent again with
// InstallProfile on the device channel: same PayloadIdentifier (so it replaces
// the installed one, MDM payload included), same Topic and ServerURL (which an
// update must not change), and a SCEP payload with a new one-time identity
// challenge minted as a renewal of the identity the device authenticated with
// (AdapterServices.identityChallenge({renewalOf})). The device enrolls the new
// identity over SCEP, installs the profile and signs its next messages with
// it; core then revokes the old identity (superseded). Until then the old one
// keeps working, so a failed install loses nothing: the next check-in queues
// the renewal again, at most once a day.

/** How long after an answered renewal (acknowledged or failed) the device may still hold the old identity before it is asked again. */
export const IDENTITY_RENEWAL_RETRY_MS = 24 * 3600_000;

export interface IdentityRenewalRecord {
  /** Serial of the identity being renewed. */
  of: string;
  commandId: string;
  status: 'queued' | 'answered';
  at: string;
}

/** The command's payload marks it as the identity re-delivery (profileId null). */
export const isIdentityCommand = (cmd: Pick<DeviceCommand, 'kind' | 'payload'>) => cmd.kind === 'InstallProfile' && cmd.payload.identity === true;

/**
 * Queues the identity re-delivery when the identity the device authenticated
 * with (`thumbprint`) is due and none is in flight for it. Mutates `state`
 * (the caller saves it); returns whether a command was queued.
 */
export async function planIdentityRenewal(s: AdapterServices, device: Device, state: AppleState, thumbprint: string | null, now: Date): Promise<boolean> {
  if (!state.enrolled || !thumbprint || !state.topic) return false;
  const current = await s.certificates.byThumbprint(thumbprint);
  if (!current || current.kind !== 'identity' || current.deviceId !== device.id || current.revokedAt !== null) return false;
  if (!identityRenewalDue(current, now)) return false;
  const prev = state.identityRenewal;
  if (prev && prev.of === current.serialNumber && (prev.status === 'queued' || now.getTime() - Date.parse(prev.at) < IDENTITY_RENEWAL_RETRY_MS)) return false;
  const cmd = await s.commands.enqueue({
    deviceId: device.id,
    channel: DEVICE_CHANNEL,
    kind: 'InstallProfile',
    payload: { identity: true, renewalOf: current.serialNumber },
    profileId: null,
    profileVersion: null,
  });
  state.identityRenewal = { of: current.serialNumber, commandId: cmd.id, status: 'queued', at: now.toISOString() };
  await s.audit('apple.identity.renewal-queued', { commandId: cmd.id, renewalOf: current.serialNumber, notAfter: current.notAfter }, { deviceId: device.id });
  return true;
}

/** The InstallProfile command for the re-delivered enrollment profile, with a fresh identity challenge (minted when sent). */
export async function identityCommand(s: AdapterServices, device: Device, cmd: DeviceCommand, state: AppleState): Promise<PlistDict | null> {
  const renewalOf = typeof cmd.payload.renewalOf === 'string' ? cmd.payload.renewalOf : null;
  if (!renewalOf || !state.topic) return null;
  const identity = await s.identityChallenge(device, { renewalOf });
  const profile = enrollmentProfile({ publicUrl: s.publicUrl, platform: device.platform, deviceId: device.id, topic: state.topic, identity, rootPem: s.caCertificatePem, generation: renewalOf });
  const signed = await s.signAttached(toXmlBytes(profile));
  return { CommandUUID: cmd.id, Command: { RequestType: 'InstallProfile', Payload: signed } };
}

/** The device answered the identity re-delivery: the next due check-in may ask again after the retry delay. */
export function applyIdentityResult(state: AppleState, cmd: DeviceCommand, msg: Pick<ConnectMessage, 'Status'>, now: Date): void {
  if (msg.Status === 'NotNow' || state.identityRenewal?.commandId !== cmd.id) return;
  state.identityRenewal = { ...state.identityRenewal, status: 'answered', at: now.toISOString() };
}
