import type { IncomingMessage } from 'node:http';
import { FastCheckinFailed, type AdapterServices, type DeliveryReport, type FastCheckin, type FastReply } from '../../core/adapter.js';
import { versionedStateWriter } from '../../core/device-lock.js';
import { WINDOWS_XML_LIMITS } from '../../core/input-limits.js';
import type { Device } from '../../core/model.js';
import { UNENROLL_ALERT_TYPE, handleMessage } from './session.js';
import { identityStanding, type WindowsState } from './state.js';
import { SYNCML_CONTENT_TYPE } from './syncml-build.js';
import { parseSyncML, type SyncMLMessage } from './syncml-message.js';
import { XmlError, parseXml } from './xml.js';

// The OMA-DM message (POST /ManagementServer/MDM.svc), shared by the Express
// route (routes.ts) and the same message answered in front of Express
// (http/fast-checkins.ts, issue 13): the same state compare-and-set writer,
// the same session code, the same answer bytes and Content-Type.

export const MANAGEMENT_PATH = '/ManagementServer/MDM.svc';

/** The Content-Type Express's res.type + send has always served for an answer (charset added). */
export const SYNCML_SERVED_TYPE = `${SYNCML_CONTENT_TYPE}; charset=utf-8`;

/** The media type of a request's Content-Type, lower-cased, without parameters. */
export function mediaType(header: string | undefined): string {
  return String(header ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * How a message's state is written: compare-and-set on the version it was read
 * with, with the message's delivery reports in the same transaction when it has
 * any (a message refused on a conflict, 503, leaves no report or audit record;
 * its retry writes them once). An unchanged state is not written: its reports
 * then go alone.
 */
export function messageSaver(s: AdapterServices, device: Device, read: { state: Record<string, unknown> | null; version: number }) {
  let reports: readonly DeliveryReport[] = [];
  const write = versionedStateWriter(device.id, read, (id, st, version) => (reports.length === 0 ? s.state.putIfVersion(id, st, version) : s.reportAllWithState(device, reports, st, version)));
  return async (st: Record<string, unknown>, withReports: readonly DeliveryReport[] = []): Promise<void> => {
    reports = withReports;
    try {
      if (!(await write(st)) && withReports.length > 0) await s.reportAll(device, withReports);
    } finally {
      reports = [];
    }
  };
}

/**
 * A SyncML message in UTF-8 (no charset, or charset=utf-8): what express.text
 * decodes as Buffer.toString does. Anything else (another type, another
 * charset) goes to the route unread, which answers 415 or decodes it.
 */
function utf8SyncML(req: IncomingMessage): boolean {
  const header = req.headers['content-type'];
  if (mediaType(header) !== SYNCML_CONTENT_TYPE) return false;
  const semi = header!.indexOf(';');
  if (semi < 0) return true;
  const params = header!.slice(semi + 1).trim().toLowerCase();
  return params === 'charset=utf-8' || params === 'charset="utf-8"';
}

/**
 * The message as the route reads it, or null when the route must answer it
 * (400 with the reason; a byte-order mark, which raw-body drops, is left to it too).
 */
function messageOf(body: Buffer): SyncMLMessage | null {
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) return null;
  try {
    const parsed = parseSyncML(parseXml(body.toString('utf8')));
    return parsed.ok ? parsed.msg : null;
  } catch (e) {
    if (e instanceof XmlError) return null;
    throw e;
  }
}

/** A Generic alert 1226 (unenrollment) revokes certificates before the state write: the route's alone. */
function unenrolls(msg: SyncMLMessage): boolean {
  return msg.commands.some((c) => c.name === 'Alert' && c.data === '1226' && c.items.some((i) => i.metaType === UNENROLL_ALERT_TYPE));
}

/**
 * The OMA-DM message in front of Express: the identity certificate verified as
 * the route's authenticateDevice does (services.presentedDevice, its verdict
 * kept for the request), a Windows device, a well-formed SyncML message in
 * UTF-8, the certificate of the device's last enrollment (a superseded one, or
 * a renewal's first use, which the route confirms and audits, is the route's).
 * Then, under the device lock, the route's own handling: handleMessage with
 * the state read with its version and written compare-and-set, so MsgID
 * replays get their SyncHdr 400 here as there. Before the lock nothing is
 * written: anything not taken is the route's (null). Once the message is being
 * applied, a failure is answered in front of Express (FastCheckinFailed), never
 * applied a second time by the route.
 */
export function fastManagement(s: AdapterServices, clock: () => Date): FastCheckin {
  return {
    method: 'POST',
    path: MANAGEMENT_PATH,
    maxBodyBytes: WINDOWS_XML_LIMITS.maxBodyBytes,
    takes: utf8SyncML,
    textBody: true,
    answer: async (req: IncomingMessage, body: Buffer) => {
      const who = await s.presentedDevice(req);
      if (!who || who.device.platform !== 'windows') return null;
      const msg = messageOf(body);
      if (!msg || unenrolls(msg)) return null;
      const device = who.device;
      return s.localDeviceLock(device.id, async (): Promise<FastReply | null> => {
        const read = await s.state.getVersioned(device.id);
        const state = (read.state ?? {}) as WindowsState;
        if (state.enrollment && identityStanding(state, who.thumbprint) !== 'current') return null;
        const save = messageSaver(s, device, read);
        try {
          const reply = await handleMessage(s, device, msg, clock(), state, (st, reports) => save(st as Record<string, unknown>, reports), who.planGenerations);
          return { status: 200, headers: { 'Content-Type': SYNCML_SERVED_TYPE }, body: reply.xml, checkIn: true };
        } catch (e) {
          throw new FastCheckinFailed(e);
        }
      });
    },
  };
}
