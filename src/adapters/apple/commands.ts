import type { AdapterServices } from '../../core/adapter.js';
import type { Delivery } from '../../core/delivery.js';
import type { Device, DeviceCommand, RdnAttribute } from '../../core/model.js';
import { toXmlBytes, type PlistDict, type PlistValue } from './plist-codec.js';
import { renderProfile, renderTrustProfile } from './render.js';
import { identityCommand, isIdentityCommand } from './identity-renewal.js';
import { loadState, type AppleState } from './state.js';

// A queued command to the plist the device receives. InstallProfile is
// rendered and signed when it is sent, not when it is queued, so its SCEP
// challenge is fresh even if the device answered NotNow for hours. null: the
// command is obsolete (its profile version is no longer what the device should
// get) and should be cancelled. Only the command's own profile is prepared,
// so sending one InstallProfile mints one challenge, not one per assigned profile.

export const COMMAND_KINDS = ['InstallProfile', 'RemoveProfile', 'ProfileList', 'CertificateList'] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

/** `state`: the device state as this request has it (not yet written); read from storage when absent. */
export async function commandPlist(s: AdapterServices, device: Device, cmd: DeviceCommand, prepared?: readonly Delivery[], state?: AppleState): Promise<{ plist: PlistDict; subject?: RdnAttribute[] } | null> {
  const wrap = (command: PlistDict) => ({ plist: { CommandUUID: cmd.id, Command: command } as PlistDict });
  switch (cmd.kind) {
    case 'InstallProfile': {
      if (isIdentityCommand(cmd)) {
        const plist = await identityCommand(s, device, cmd, state ?? (await loadState(s, device.id)));
        return plist ? { plist } : null;
      }
      if (typeof cmd.payload.trust === 'string') {
        // The roots profile of a CA rollover (sync.ts): only while that CA is still the current one.
        if (cmd.payload.trust !== s.currentCaId) return null;
        return wrap({ RequestType: 'InstallProfile', Payload: await s.signAttached(toXmlBytes(renderTrustProfile(s.caCertificatePem, s.currentCaId))) });
      }
      if (!cmd.profileId) return null;
      // The plan this request already made, if any (its challenges are minted when first read, so still fresh).
      const deliveries = prepared ?? (await s.deliveriesFor(device, { profileIds: [cmd.profileId] }));
      const d = deliveries.find((x) => x.profile.id === cmd.profileId);
      if (!d || !d.ok || d.profile.version !== cmd.profileVersion) return null;
      const signed = await s.signAttached(toXmlBytes(renderProfile(device, d)));
      return { ...wrap({ RequestType: 'InstallProfile', Payload: signed }), subject: d.resolved.subject };
    }
    case 'RemoveProfile':
      return wrap({ RequestType: 'RemoveProfile', Identifier: String(cmd.payload.identifier) });
    case 'ProfileList':
    case 'CertificateList':
      return wrap({ RequestType: cmd.kind, ManagedOnly: true });
    default:
      return null;
  }
}

/** A plist value as JSON (data as base64) for the command's stored result. */
export function jsonSafe(v: PlistValue | undefined): unknown {
  if (v === undefined || v === null) return null;
  if (v instanceof Uint8Array) return { base64: Buffer.from(v).toString('base64') };
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}
