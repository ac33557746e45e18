import type { AdapterServices, DeliveryReport } from '../../core/adapter.js';
import type { CommandStatus, Device, DeviceCommand, IssuedCertificate } from '../../core/model.js';
import { type Bounds, boundedRecord } from '../../core/bounded.js';
import { jsonSafe } from './commands.js';
import type { ConnectMessage } from './messages.js';
import type { ConnectWrites } from './connect-writes.js';
import type { PlistDict, PlistValue } from './plist-codec.js';
import type { AppleState } from './state.js';

// What a device's answer to a command does: the queue entry's status and
// kept result (ErrorChain included), the profile's record in the device
// state, and the per-profile report the admin API shows.
//
// InstallProfile Acknowledged means the whole profile installed, and Apple
// installs a profile with a SCEP payload only after that SCEP enrollment
// succeeded: the certificate is on the device. Its thumbprint comes from the
// certificate we issued for it (issued-certificates.ts), found by the caller.
// Only when there is none (the profile enrolls at a foreign SCEP server, so
// this gateway holds no issuance record) is a CertificateList queued to read
// it from the device (certificate-match.ts).

const STATUS: Record<ConnectMessage['Status'], CommandStatus | null> = {
  Idle: null,
  Acknowledged: 'acknowledged',
  Error: 'error',
  CommandFormatError: 'formaterror',
  NotNow: 'notnow',
};

export interface ResultEffects {
  reports: DeliveryReport[];
  /** Follow-up commands to queue on the same channel. */
  followUps: ('CertificateList' | 'ProfileList')[];
}

/** The platform error code of an ErrorChain: the first entry's domain and code. */
export function errorCodeOf(chain: ConnectMessage['ErrorChain']): { code: string; detail: string } {
  const first = chain?.[0];
  if (!first) return { code: 'Error', detail: 'the device answered Error without an ErrorChain' };
  const code = `${first.ErrorDomain ?? 'unknown'}:${first.ErrorCode ?? '?'}`.slice(0, 64);
  const detail = chain!
    .map((e) => e.USEnglishDescription ?? e.LocalizedDescription ?? `${e.ErrorDomain}:${e.ErrorCode}`)
    .join(' <- ')
    .slice(0, 512);
  return { code, detail };
}

/**
 * What is kept of an answer (the admin sees it under the command). The device
 * writes it, up to the 1 MB body limit, once per command: kept within
 * RESULT_BOUNDS (64 KiB), cuts marked (core/bounded.ts).
 */
export const RESULT_BOUNDS: Bounds = { string: 8192, key: 128, items: 64, keys: 64, depth: 6, bytes: 64 * 1024 };

export function commandResult(msg: PlistDict): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(msg)) if (k !== 'UDID' && k !== 'CommandUUID') out[k] = jsonSafe(v);
  return boundedRecord(out, RESULT_BOUNDS);
}

/**
 * Pure: the state change and reports for one answered command. `issued`: the
 * certificate we issued that an acknowledged InstallProfile installed, if any.
 */
export function applyResult(state: AppleState, cmd: DeviceCommand, msg: ConnectMessage, channel: string, issued?: Pick<IssuedCertificate, 'thumbprint'> | null): ResultEffects {
  const fx: ResultEffects = { reports: [], followUps: [] };
  const rec = cmd.profileId ? state.profiles[cmd.profileId] : undefined;
  const mine = rec !== undefined && rec.commandId === cmd.id;
  const report = (r: Omit<DeliveryReport, 'profileId' | 'profileVersion'>) => {
    if (cmd.profileId && cmd.profileVersion !== null) fx.reports.push({ profileId: cmd.profileId, profileVersion: cmd.profileVersion, ...r });
  };
  if (msg.Status === 'NotNow') {
    const ch = state.channels[channel];
    if (ch && !ch.notNow.includes(cmd.id)) ch.notNow.push(cmd.id);
    if (mine && rec.status === 'sent') rec.status = 'queued';
    return fx;
  }
  switch (cmd.kind) {
    case 'InstallProfile':
      if (typeof cmd.payload.trust === 'string') {
        // The roots profile of a CA rollover: acknowledged, the device holds the roots; else it is queued again at the next Idle.
        if (msg.Status === 'Acknowledged') state.rootsHeld = cmd.payload.trust;
        else if (state.rootsQueued === cmd.payload.trust) delete state.rootsQueued;
        break;
      }
      if (msg.Status === 'Acknowledged') {
        if (mine) rec.status = 'installed';
        if (issued) {
          if (mine) rec.thumbprint = issued.thumbprint;
          report({ state: 'installed', thumbprint: issued.thumbprint, detail: 'InstallProfile acknowledged: SCEP enrollment and profile installation succeeded; thumbprint from the certificate this gateway issued for it' });
        } else {
          // Fallback: no issuance record for it here, so ask the device which certificate it holds.
          report({ state: 'installed', detail: 'InstallProfile acknowledged: SCEP enrollment and profile installation succeeded' });
          fx.followUps.push('CertificateList');
        }
      } else {
        const { code, detail } = msg.Status === 'Error' ? errorCodeOf(msg.ErrorChain) : { code: 'CommandFormatError', detail: 'the device could not read the InstallProfile command' };
        if (mine) {
          rec.status = 'failed';
          rec.errorCode = code;
        }
        report({ state: 'failed', errorCode: code, detail });
      }
      break;
    case 'RemoveProfile':
      if (mine) delete state.profiles[cmd.profileId!];
      if (msg.Status === 'Acknowledged') report({ state: 'removed' });
      else {
        const { code, detail } = msg.Status === 'Error' ? errorCodeOf(msg.ErrorChain) : { code: 'CommandFormatError', detail: 'RemoveProfile unreadable' };
        report({ state: 'failed', errorCode: code, detail: `RemoveProfile: ${detail}` });
      }
      break;
    default:
      break;
  }
  return fx;
}

/**
 * ProfileList answer: a profile we think is installed but the device no longer
 * lists (the user removed it, a restore) is forgotten, so the next Idle
 * installs it again.
 */
export function reconcileProfileList(state: AppleState, list: PlistValue | undefined, channel: string): DeliveryReport[] {
  if (!Array.isArray(list)) return [];
  const present = new Set(
    list.flatMap((p) => (p && typeof p === 'object' && !Array.isArray(p) && !(p instanceof Uint8Array) && !(p instanceof Date) && typeof p.PayloadIdentifier === 'string' ? [p.PayloadIdentifier] : [])),
  );
  const reports: DeliveryReport[] = [];
  for (const [profileId, rec] of Object.entries(state.profiles)) {
    if (rec.channel !== channel || rec.status !== 'installed' || present.has(rec.identifier)) continue;
    delete state.profiles[profileId];
    reports.push({ profileId, profileVersion: rec.version, state: 'pending', detail: 'not in the device ProfileList any more: it will be installed again' });
  }
  return reports;
}

/** The command's status and kept result, with the rest of the connect's writes (connect-writes.ts). */
export function answerWrites(writes: ConnectWrites, cmd: DeviceCommand, msg: ConnectMessage, raw: PlistDict): void {
  const status = STATUS[msg.Status];
  if (status) writes.answer(cmd.id, status, commandResult(raw));
}

export async function recordAnswer(s: AdapterServices, device: Device, cmd: DeviceCommand, msg: ConnectMessage, raw: PlistDict): Promise<void> {
  const status = STATUS[msg.Status];
  if (status) await s.commands.update(cmd.id, device.id, status, commandResult(raw));
}
