import express, { Router, type Request, type Response } from 'express';
import type { AdapterServices } from '../../core/adapter.js';
import { PLIST_LIMITS } from '../../core/input-limits.js';
import type { Device, DeviceCommand, IssuedCertificate, Platform } from '../../core/model.js';
import { matchCertificateList } from './certificate-match.js';
import { applyCheckin, reportedValues, userAuthenticateAnswer } from './checkin.js';
import { nextCommand } from './dispatch.js';
import { enrollmentProfile } from './enrollment-profile.js';
import { certificateInstalledBy } from './issued-certificates.js';
import { authenticateMessage } from './message-auth.js';
import { connectMessage, issues } from './messages.js';
import { withDeviceLock } from './device-lock.js';
import { PlistError, parseDict, toXml, toXmlBytes, type PlistDict } from './plist-codec.js';
import { enrollRefusal } from './error-codes.js';
import type { Pusher } from './pusher.js';
import { answerWrites, applyResult, reconcileProfileList, recordAnswer } from './results.js';
import { ConnectWrites } from './connect-writes.js';
import { DEVICE_CHANNEL, emptyState, loadState, saveState, userChannel, type AppleState } from './state.js';
import { idleReusableUntil } from './idle-cache.js';
import { APPLE_PLATFORMS, CONNECT_PATH, idleAnswersFor, keptIdle } from './fast-idle.js';
import type { Delivery } from '../../core/delivery.js';
import { syncDevice, type SyncOptions } from './sync.js';
import { applyIdentityResult, isIdentityCommand, planIdentityRenewal } from './identity-renewal.js';

// The device-facing routes, thin over the pure modules:
//   GET /mdm/enroll?token=   signed enrollment profile (.mobileconfig)
//   PUT /mdm/checkin         Authenticate, TokenUpdate, CheckOut
//   PUT /mdm/connect         Idle / command results -> next command
// `now` is the adapter's clock (createAppleAdapter's `now` option): it times
// renewals and check-in bookkeeping; tests move it.

export const MOBILECONFIG_TYPE = 'application/x-apple-aspen-config';
/** Bodies are taken as they come, whatever the Content-Type says; larger ones get 413 unread. */
const rawBody = express.raw({ type: () => true, limit: PLIST_LIMITS.maxBodyBytes });

export interface DeviceRouteDeps {
  pusher: Pusher;
  now: () => Date;
}

const bodyOf = (req: Request): Uint8Array => (Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : new Uint8Array(0));

export function deviceRoutes(s: AdapterServices, d: DeviceRouteDeps): Router {
  const r = Router();

  r.get('/mdm/enroll', async (req, res) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    if (!token) {
      res.status(400).json({ error: 'token query parameter required' });
      return;
    }
    // Checked before the token is spent, so a misconfigured gateway does not burn tokens.
    const push = await d.pusher.pushCertificate();
    if (!push) {
      res.status(503).json({ error: 'no APNs push certificate is configured: upload one with PUT /api/v1/apple/push-certificate' });
      return;
    }
    // The URL does not say the platform: core tries the token as iOS, then macOS (this adapter's platforms).
    // It checks everything before spending the token (core/token-redemption.ts), so a refusal burns nothing.
    // No name yet: Authenticate reports the device's DeviceName and SerialNumber (kept as reported values).
    const redeemed = await s.redeemEnrollmentToken(token);
    if (!redeemed.ok) {
      const e = enrollRefusal(redeemed);
      // A deleted device is the admin's doing, not a refused request: answered, not audited (as before the kit).
      if (redeemed.reason !== 'device-missing') {
        await s.audit('apple.enroll.refused', { reason: redeemed.reason, ...(redeemed.reason === 'device-blocked' && { tokenId: redeemed.token.id }) }, {
          ...(e.reasonCode && { reasonCode: e.reasonCode }),
          ...(redeemed.reason === 'device-blocked' && { deviceId: redeemed.device.id }),
        });
      }
      // A blocked device's refusal names the reason code, as on every platform (docs/api.md).
      res.status(e.status).json({ error: e.error, ...(redeemed.reason === 'device-blocked' && { reason: 'DEVICE_BLOCKED' }) });
      return;
    }
    const { token: t, device, created } = redeemed;
    const identity = await s.identityChallenge(device);
    const state = await loadState(s, device.id);
    state.profileIssuedAt = d.now().toISOString();
    await saveState(s, device.id, state);
    const profile = enrollmentProfile({ publicUrl: s.publicUrl, platform: device.platform, deviceId: device.id, topic: push.topic, identity, rootPem: s.caCertificatePem });
    const signed = await s.signAttached(toXmlBytes(profile));
    await s.audit('apple.enrollment-profile.issued', { tokenId: t.id, platform: device.platform, created }, { deviceId: device.id });
    res.status(200).type(MOBILECONFIG_TYPE).setHeader('content-disposition', 'attachment; filename="enroll.mobileconfig"');
    res.send(Buffer.from(signed));
  });

  /** Authenticates and parses a check-in/connect body; answers the refusal itself and returns null. */
  async function accept(req: Request, res: Response): Promise<{ device: Device; msg: PlistDict; thumbprint: string | null } | null> {
    const body = bodyOf(req);
    const who = await authenticateMessage(s, req, res, body);
    if (!who) return null;
    const { device, thumbprint } = who;
    if (!APPLE_PLATFORMS.includes(device.platform)) {
      res.status(403).json({ error: `device ${device.id} is a ${device.platform} device, not an Apple one` });
      return null;
    }
    try {
      return { device, msg: parseDict(body), thumbprint };
    } catch (e) {
      res.status(400).json({ error: e instanceof PlistError ? e.message : 'unreadable body' });
      return null;
    }
  }

  const pushLater = (deviceId: string, channel: string) => {
    void d.pusher.notify(deviceId, channel).catch((e: Error) => s.log.warn({ deviceId, channel, err: e.message }, 'push failed'));
  };

  r.put('/mdm/checkin', rawBody, async (req, res) => {
    const got = await accept(req, res);
    if (!got) return;
    const { device, msg } = got;
    // Under the device lock: an admin change may be planning for this device right now (onDevicesChanged).
    await withDeviceLock(s, device.id, async () => {
      const before = await loadState(s, device.id);
      if (msg.MessageType === 'UserAuthenticate') {
        const ua = userAuthenticateAnswer(before, msg);
        if (!ua.ok) res.status(ua.status).json({ error: ua.error });
        else if (ua.body) res.status(200).type('application/xml').send(toXml(ua.body));
        else res.status(200).end();
        return;
      }
      const out = applyCheckin(before, msg, d.now());
      if (!out.ok) {
        await s.audit('apple.checkin.refused', { messageType: String(msg.MessageType ?? ''), error: out.error }, { deviceId: device.id });
        res.status(out.status).json({ error: out.error });
        return;
      }
      const type = `apple.checkin.${String(msg.MessageType).toLowerCase()}`;
      const details = { channel: out.channel ?? DEVICE_CHANNEL, udid: out.state.udid ?? null, serialNumber: out.state.serialNumber ?? null, model: out.state.model ?? null, osVersion: out.state.osVersion ?? null };
      if (out.effect === 'token-updated') {
        // The token, its audit record and the plan's commands, reports and state: one transaction (issue 13).
        const writes = new ConnectWrites(s, device);
        writes.saveState(out.state);
        writes.audit(type, details);
        const touched = await syncDevice(s, device, { now: d.now(), writes });
        await writes.commit();
        const pending = await pendingChannels(s, device.id);
        for (const ch of new Set([...touched, ...pending])) if (out.state.channels[ch]) pushLater(device.id, ch);
        res.status(200).end();
        return;
      }
      await saveState(s, device.id, out.state);
      await s.audit(type, details, { deviceId: device.id });
      if (out.effect === 'authenticated') {
        // The device's word, kept beside the admin's name and serial, never over them.
        await s.devices.report(device, reportedValues(out.state));
      } else if (out.effect === 'checked-out' && out.channel === DEVICE_CHANNEL) {
        await checkedOut(s, device, before);
      }
      res.status(200).end();
    });
  });

  // Idle with nothing to do: the empty answer again while nothing it depends on changed (idle-cache.ts);
  // the same answer is also given in front of Express (fast-idle.ts).
  const idles = idleAnswersFor(s);

  r.put(CONNECT_PATH, rawBody, async (req, res) => {
    const got = await accept(req, res);
    if (!got) return;
    const { device, msg: raw, thumbprint } = got;
    const m = connectMessage.safeParse(raw);
    if (!m.success) {
      res.status(400).json({ error: issues(m.error).join('; ') });
      return;
    }
    const msg = m.data;
    // Read before anything the answer is made from (core/plan-generation.ts). Without the
    // device lock: the cached answer writes nothing, and its key holds the state it was made from.
    const idle = msg.Status === 'Idle' && !msg.UserID ? await keptIdle(s, d.now(), device, thumbprint, msg.UDID) : null;
    if (idle?.kept) {
      res.status(200).end();
      return;
    }
    // Under the device lock: an admin change may be planning for this device right now (onDevicesChanged).
    await withDeviceLock(s, device.id, async () => {
      // One read: the state as stored (kept as read for keepIdle) and the copy this connect changes.
      const stored = await s.state.get(device.id);
      const state = loadedState(idle ? structuredClone(stored) : stored);
      if (!state.enrolled) {
        res.status(401).json({ error: 'this device is not enrolled (it checked out)' });
        return;
      }
      if (state.udid !== msg.UDID) {
        res.status(403).json({ error: 'UDID does not match the enrolled device' });
        return;
      }
      const channel = msg.UserID ? userChannel(msg.UserID) : DEVICE_CHANNEL;
      // What answering a command writes, and the next command sent: one transaction (connect-writes.ts).
      const writes = new ConnectWrites(s, device);
      if (msg.Status === 'Idle') {
        const ch = state.channels[channel];
        if (ch) ch.notNow = [];
        // The Idle's state, the plan's writes and the command it sends: one transaction (connect-writes.ts).
        writes.saveState(state);
        let planned: Parameters<NonNullable<SyncOptions['planned']>>[0] | null = null;
        const touched = await syncDevice(s, device, { now: d.now(), planned: (p) => (planned = p), writes });
        // The MDM identity itself, inside its renewal period: the enrollment profile again (identity-renewal.ts).
        let renewing = false;
        if (channel === DEVICE_CHANNEL && device.retiringSince === null) {
          const after = writes.state ?? state;
          renewing = await planIdentityRenewal(s, device, after, thumbprint, d.now());
          if (renewing) writes.saveState(after);
        }
        // The plan syncDevice just made serves the command sent now (no second planning in this request).
        const next = await nextCommand(s, device, channel, (planned as { deliveries: Delivery[] } | null)?.deliveries, writes);
        if (next) {
          res.status(200).type('application/xml').send(toXml(next));
          return;
        }
        // Nothing was to do: kept for the next Idle while nothing changes.
        if (idle && touched.size === 0 && !renewing && planned) await keepIdle(device, stored, idle.keyOf(stored), planned, thumbprint);
        res.status(200).end();
        return;
      } else {
        const cmd = msg.CommandUUID ? (await s.commands.list(device.id)).find((c) => c.id === msg.CommandUUID && c.channel === channel) : undefined;
        if (!cmd) {
          s.log.warn({ deviceId: device.id, commandUuid: msg.CommandUUID, status: msg.Status }, 'result for a command this channel was not sent');
        } else if (isIdentityCommand(cmd)) {
          // The MDM identity's re-delivery: no profile record or report; the new identity shows in use on the next message.
          await recordAnswer(s, device, cmd, msg, raw);
          const after = await loadState(s, device.id);
          if (msg.Status === 'NotNow') applyResult(after, cmd, msg, channel); // offered again on the next Idle, as any NotNow
          applyIdentityResult(after, cmd, msg, d.now());
          await saveState(s, device.id, after);
          await s.audit('apple.identity.renewal-answered', { commandId: cmd.id, status: msg.Status }, { deviceId: device.id });
        } else {
          // Looked up before the answer is recorded: it needs the command as it was when sent.
          const issued = cmd.kind === 'InstallProfile' && msg.Status === 'Acknowledged' ? await certificateInstalledBy(s, device.id, cmd) : null;
          answerWrites(writes, cmd, msg, raw);
          const fx = applyResult(state, cmd, msg, channel, issued);
          if (cmd.kind === 'CertificateList' && msg.Status === 'Acknowledged') fx.reports.push(...matchCertificateList(state, raw.CertificateList));
          const missing = cmd.kind === 'ProfileList' && msg.Status === 'Acknowledged' ? reconcileProfileList(state, raw.ProfileList, channel) : [];
          fx.reports.push(...missing);
          writes.saveState(state);
          writes.report(...fx.reports);
          if (isUnenrollCommand(cmd) && msg.Status === 'Acknowledged') {
            // Retiring: the device removed the MDM profile; it will not ask for anything more (core/retirement.ts).
            await writes.commit();
            await checkedOut(s, device, state, 'RemoveProfile of the MDM enrollment profile acknowledged (device retiring)');
            res.status(200).end();
            return;
          }
          if (fx.followUps.length) {
            const waiting = (await s.commands.list(device.id)).filter((c) => c.channel === channel && (c.status === 'queued' || c.status === 'notnow'));
            for (const kind of fx.followUps) {
              // One CertificateList answers for every profile installed before it runs.
              if (!waiting.some((c) => c.kind === kind)) writes.enqueue({ deviceId: device.id, channel, kind, payload: {}, profileId: null, profileVersion: null });
            }
          }
          // Profiles missing from the device are queued again in this same session, with these writes
          // (nextCommand commits queued commands before it reads the queue).
          if (missing.length) await syncDevice(s, device, { now: d.now(), writes });
        }
      }
      const next = await nextCommand(s, device, channel, undefined, writes);
      if (next) res.status(200).type('application/xml').send(toXml(next));
      else res.status(200).end();
    });
  });

  /** Keeps the empty Idle answer when the Idle left the stored state as it found it (idle-cache.ts). */
  async function keepIdle(device: Device, stored: unknown, key: string, planned: { deliveries: Delivery[]; certs: IssuedCertificate[] }, thumbprint: string | null): Promise<void> {
    if (JSON.stringify(await s.state.get(device.id)) !== JSON.stringify(stored)) return;
    const now = d.now();
    const identity = thumbprint ? await s.certificates.byThumbprint(thumbprint) : null;
    const until = idleReusableUntil(loadedState(stored), planned.deliveries, planned.certs, identity, now);
    if (until !== null) idles.set(device.id, key, true, now, until);
  }

  return r;
}

/** The state as loadState reads it, from the stored document. */
function loadedState(stored: unknown): AppleState {
  return { ...emptyState(), ...((stored as Partial<AppleState> | null) ?? {}) } as AppleState;
}

/** The retirement's RemoveProfile of the enrollment profile (sync.ts). */
function isUnenrollCommand(cmd: DeviceCommand): boolean {
  return cmd.kind === 'RemoveProfile' && cmd.payload.unenroll === true;
}

async function pendingChannels(s: AdapterServices, deviceId: string): Promise<string[]> {
  const cmds = await s.commands.list(deviceId);
  return [...new Set(cmds.filter((c) => c.status === 'queued' || c.status === 'notnow' || c.status === 'sent').map((c) => c.channel))];
}

/** CheckOut (the MDM profile was removed): every managed profile went with it, and nothing queued will ever be fetched. */
async function checkedOut(s: AdapterServices, device: Device, before: AppleState, detail = 'Apple CheckOut: the MDM profile was removed'): Promise<void> {
  // Its identity (and the certificates that left with the profiles) must stop working now (docs/lifecycle.md).
  await s.unenrolled(device, detail);
  for (const c of await s.commands.list(device.id)) {
    if (c.status === 'queued' || c.status === 'sent' || c.status === 'notnow') await s.commands.update(c.id, device.id, 'cancelled', { reason: 'device checked out' });
  }
  for (const [profileId, rec] of Object.entries(before.profiles)) {
    if (rec.status === 'installed' || rec.status === 'sent') await s.report(device, { profileId, profileVersion: rec.version, state: 'removed', detail: 'the device checked out (MDM profile removed)' });
  }
  const after = await loadState(s, device.id);
  after.profiles = {};
  await saveState(s, device.id, after);
}
