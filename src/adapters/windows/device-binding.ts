import type { AdapterServices } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import type { SoapFault } from './soap.js';
import { identityStanding, readWindowsState } from './state.js';

// Which device record a Windows enrollment is for. The DeviceID in the
// enrollment's AdditionalContext is the client's word: anyone with a user's
// enrollment token can claim any DeviceID. So a DeviceID already bound to a
// device (by that device's enrollment) is only given to a request that proves
// it is that device:
//   - it presents the device's current identity certificate (the last one a
//     Windows enrollment issued it; TLS client auth or the trusted proxy
//     header), and the token is for the device's own user; or
//   - the token was made by the admin for that very device (POST
//     /api/v1/enrollment-tokens with deviceId): the admin's reset, e.g. after
//     the device was wiped and lost its certificate.
// Anything else is refused before the token is spent: a clone never gets the
// existing device's identity, certificates or delivery state.

/** How the request showed which device it is (audited with the enrollment). */
export type Proof = 'new-device' | 'identity-certificate' | 'device-token';

export type Binding = { ok: true; device: Device | null; proof: Proof } | { ok: false; fault: SoapFault; reason: string; claimedBy: string };

/** settings key: the Windows hardware DeviceID (AdditionalContext) -> our device id, to link re-enrollments. */
export const hardwareKey = (hardwareId: string) => `hardware.${hardwareId.toUpperCase()}`;

/** The Windows device a hardware DeviceID is bound to, if it still exists. */
export async function deviceOfHardware(s: AdapterServices, hardwareId: string): Promise<Device | null> {
  const id = await s.settings.get(hardwareKey(hardwareId));
  const d = id ? await s.devices.get(id) : null;
  return d && d.platform === 'windows' ? d : null;
}

export interface BindingRequest {
  /** The token's device (an admin-made token for one device), else null. */
  tokenDevice: Device | null;
  /** The user the token enrolls (the token's, or its device's). */
  userId: string | null;
  hardwareId: string | null;
  /** The identity certificate the request presented, when one verified. */
  presented: { device: Device; thumbprint: string } | null;
}

const refuse = (reason: string, claimedBy: string, text: string): Binding => ({ ok: false, reason, claimedBy, fault: { code: 'Authorization', reason: text } });

const NEEDS_PROOF =
  'this DeviceID belongs to an enrolled device: re-enroll it with its current identity certificate, or with an enrollment token the administrator made for that device';

export async function bindDevice(s: AdapterServices, r: BindingRequest): Promise<Binding> {
  const owner = r.hardwareId ? await deviceOfHardware(s, r.hardwareId) : null;
  if (r.tokenDevice) {
    // The admin named the device; the DeviceID may be new (replaced hardware) but not another device's.
    if (owner && owner.id !== r.tokenDevice.id) return refuse('hardware-id-of-another-device', owner.id, 'this DeviceID belongs to another enrolled device');
    return { ok: true, device: r.tokenDevice, proof: 'device-token' };
  }
  if (!owner) return { ok: true, device: null, proof: 'new-device' };
  if (r.presented?.device.id !== owner.id) return refuse('hardware-id-claimed', owner.id, NEEDS_PROOF);
  const state = await readWindowsState(s, owner.id);
  // Only the last identity certificate counts (or its renewal): an older one (of an enrollment that was superseded) proves nothing now.
  if (identityStanding(state, r.presented.thumbprint) === null) return refuse('identity-not-current', owner.id, NEEDS_PROOF);
  if (owner.userId !== r.userId) return refuse('device-of-another-user', owner.id, 'this device is enrolled for another user: the administrator must make an enrollment token for it');
  return { ok: true, device: owner, proof: 'identity-certificate' };
}
