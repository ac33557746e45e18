
import type { PlistDict } from './plist-codec.js';
import { authenticateMessage as authenticateSchema, checkOutMessage, issues, tokenUpdateMessage } from './messages.js';
import { DEVICE_CHANNEL, MAX_SUPERSEDED_TOKENS, MAX_USER_CHANNELS, newChannel, tokenMark, userChannel, type AppleState } from './state.js';

// The check-in protocol (PUT /mdm/checkin): pure state transitions for
// Authenticate, TokenUpdate and CheckOut. The route loads the state, applies
// one of these and saves it.

export type CheckinOutcome =
  | { ok: true; state: AppleState; effect: 'authenticated' | 'token-updated' | 'checked-out'; channel?: string; firstToken?: boolean }
  | { ok: false; status: number; error: string };

const refuse = (status: number, error: string): CheckinOutcome => ({ ok: false, status, error });

/** The same identity certificate must keep speaking for the same hardware. */
function udidConflict(state: AppleState, udid: string): boolean {
  return state.udid !== undefined && state.udid !== udid;
}

function userChannelCount(state: AppleState): number {
  return Object.keys(state.channels).filter((c) => c !== DEVICE_CHANNEL).length;
}

/** Appends a superseded-token mark, keeping the newest MAX_SUPERSEDED_TOKENS. */
function remember(marks: string[], mark: string): string[] {
  return [...marks.filter((m) => m !== mark), mark].slice(-MAX_SUPERSEDED_TOKENS);
}

export function applyCheckin(state: AppleState, msg: PlistDict, now: Date): CheckinOutcome {
  switch (msg.MessageType) {
    case 'Authenticate': {
      const m = authenticateSchema.safeParse(msg);
      if (!m.success) return refuse(400, `Authenticate: ${issues(m.error).join('; ')}`);
      const a = m.data;
      if (udidConflict(state, a.UDID)) return refuse(403, 'this identity certificate is bound to another UDID');
      // After CheckOut the old identity certificate may still be valid: coming back takes a new enrollment profile (a new token).
      if (state.checkedOutAt && !(state.profileIssuedAt && state.profileIssuedAt > state.checkedOutAt)) {
        return refuse(403, 'this device checked out: enroll again with a new enrollment token');
      }
      // A (re-)enrollment: the device holds none of our profiles and no push token yet.
      const next: AppleState = {
        ...state,
        enrolled: true,
        udid: a.UDID,
        topic: a.Topic,
        authenticatedAt: now.toISOString(),
        channels: {},
        profiles: {},
        reportedErrors: {},
      };
      delete next.checkedOutAt;
      for (const [k, v] of [
        ['serialNumber', a.SerialNumber],
        ['model', a.Model],
        ['modelName', a.ModelName],
        ['productName', a.ProductName],
        ['deviceName', a.DeviceName],
        ['osVersion', a.OSVersion],
        ['buildVersion', a.BuildVersion],
      ] as const) {
        if (v !== undefined) next[k] = v;
      }
      return { ok: true, state: next, effect: 'authenticated' };
    }
    case 'TokenUpdate': {
      const m = tokenUpdateMessage.safeParse(msg);
      if (!m.success) return refuse(400, `TokenUpdate: ${issues(m.error).join('; ')}`);
      const t = m.data;
      if (!state.enrolled || state.udid === undefined) return refuse(409, 'TokenUpdate before Authenticate');
      if (udidConflict(state, t.UDID)) return refuse(403, 'this identity certificate is bound to another UDID');
      const channel = t.UserID ? userChannel(t.UserID) : DEVICE_CHANNEL;
      if (channel !== DEVICE_CHANNEL && !state.channels[DEVICE_CHANNEL]) return refuse(409, 'user-channel TokenUpdate before the device channel has one');
      const token = Buffer.from(t.Token).toString('hex');
      const prev = state.channels[channel];
      if (!prev && channel !== DEVICE_CHANNEL && userChannelCount(state) >= MAX_USER_CHANNELS) {
        return refuse(403, `this device already has ${MAX_USER_CHANNELS} user channels: a user must check out before another one can be managed`);
      }
      // Apple's check-in has no nonce: a recorded, validly signed TokenUpdate could be
      // sent again to put back a token the device has since replaced.
      const superseded = state.supersededTokens ?? [];
      if (prev?.token !== token && superseded.includes(tokenMark(channel, token))) {
        return refuse(409, 'this push token was replaced by a newer TokenUpdate (a replayed message?)');
      }
      const supersededTokens = prev && prev.token !== token ? remember(superseded, tokenMark(channel, prev.token)) : superseded;
      const ch = prev && prev.token === token ? { ...prev, pushMagic: t.PushMagic, updatedAt: now.toISOString() } : newChannel(token, t.PushMagic, now);
      // A new token (or a repeated TokenUpdate) lifts a push ban set for the old one.
      delete ch.push.disabled;
      if (t.UnlockToken) ch.unlockToken = true;
      if (t.UserShortName !== undefined) ch.userShortName = t.UserShortName;
      if (t.UserLongName !== undefined) ch.userLongName = t.UserLongName;
      return { ok: true, state: { ...state, supersededTokens, channels: { ...state.channels, [channel]: ch } }, effect: 'token-updated', channel, firstToken: !prev };
    }
    case 'CheckOut': {
      const m = checkOutMessage.safeParse(msg);
      if (!m.success) return refuse(400, `CheckOut: ${issues(m.error).join('; ')}`);
      if (udidConflict(state, m.data.UDID)) return refuse(403, 'this identity certificate is bound to another UDID');
      if (m.data.UserID) {
        const channels = { ...state.channels };
        delete channels[userChannel(m.data.UserID)];
        return { ok: true, state: { ...state, channels }, effect: 'checked-out', channel: userChannel(m.data.UserID) };
      }
      return { ok: true, state: { ...state, enrolled: false, checkedOutAt: now.toISOString(), channels: {} }, effect: 'checked-out', channel: DEVICE_CHANNEL };
    }
    default:
      return refuse(400, `unsupported MessageType ${JSON.stringify(msg.MessageType ?? null)}`);
  }
}

/** What Authenticate told us about the device that templates may use: reported values, never the admin's (core/reported-values.ts). */
export function reportedValues(state: AppleState): { name: string | undefined; serialNumber: string | undefined } {
  return { name: state.deviceName, serialNumber: state.serialNumber };
}

/**
 * UserAuthenticate (macOS, before a user channel's first TokenUpdate): the
 * gateway does not authenticate local users itself, so it answers the first
 * message with an empty DigestChallenge, which tells the device to go on
 * without a second round; the second (with DigestResponse) gets an empty 200.
 */
export function userAuthenticateAnswer(state: AppleState, msg: PlistDict): { ok: true; body: PlistDict | null } | { ok: false; status: number; error: string } {
  if (typeof msg.UDID !== 'string' || typeof msg.UserID !== 'string') return { ok: false, status: 400, error: 'UserAuthenticate: UDID and UserID required' };
  if (!state.enrolled || state.udid !== msg.UDID) return { ok: false, status: 403, error: 'UserAuthenticate from a device that is not this enrollment' };
  return { ok: true, body: 'DigestResponse' in msg ? null : { DigestChallenge: '' } };
}
