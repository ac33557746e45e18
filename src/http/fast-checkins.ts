import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { FastCheckinFailed, type FastCheckin, type FastReply } from '../core/adapter.js';
import { DeviceBusyError } from '../core/device-lock.js';
import { withRequestSource } from '../core/request-source.js';
import { isDatabaseUnavailable } from '../core/storage/db-errors.js';
import type { Logger } from '../log.js';
import type { FastAnswers } from './fast-answers.js';
import { DATABASE_RETRY_AFTER_SECONDS } from './errors.js';

// Check-ins with nothing to do (the Android policy fetch, the Apple
// device-channel Idle) answered in front of Express (issue 13): no router
// chain, no httpMetrics closures, no body-parser stream. The adapter's
// FastCheckin does the route's own checks with the route's own functions
// (device identity, Mdm-Signature, message schema, the check-in cache) and
// answers only a kept answer; anything else (a miss, a refusal, another
// message, an odd header, an error) is handed to the Express app with the
// body already read, and the route answers it exactly as before, refusals,
// audit records and all. Only the device listener has this path: the admin
// listener (--admin-listen) goes straight to Express, which keeps device
// routes off it. A hit is counted as the route would count it
// (mdmgw_http_requests_total and the latency histogram under the route's
// label, mdmgw_checkins_total as 'ok' where the route's authenticateDevice
// would have counted it).
// The Windows OMA-DM message (POST, adapters/windows/management.ts) is the one
// check-in here that writes: it is answered here whenever its message is well
// formed and its identity current, and once it may have written, a failure is
// answered here as errorHandler answers it (FastCheckinFailed), never handed on.

export interface FastCheckinDeps {
  /** The Express app: what answers everything the fast path does not. */
  fallThrough: RequestListener;
  log: Logger;
  observe(method: string, route: string, status: number, seconds: number): void;
  /** mdmgw_check_ins for the adapter (metrics/check-ins.ts). */
  checkedIn(adapter: string): void;
}

export interface MountedFastCheckin {
  adapter: string;
  checkin: FastCheckin;
}

export function fastCheckins(mounted: readonly MountedFastCheckin[], d: FastCheckinDeps): FastAnswers {
  const byRoute = new Map(mounted.map((m) => [`${m.checkin.method} ${m.checkin.path}`, m]));
  return (req, res) => {
    if (byRoute.size === 0 || !req.url) return false;
    const q = req.url.indexOf('?');
    const m = byRoute.get(`${req.method} ${q < 0 ? req.url : req.url.slice(0, q)}`);
    if (!m || !plainBody(req, m.checkin) || (m.checkin.takes && !m.checkin.takes(req))) return false;
    const started = process.hrtime.bigint();
    // What Express reports as req.ip with `trust proxy` off (the audit's request source).
    const source = req.socket.remoteAddress ?? 'unknown';
    withRequestSource(source, () => {
      void answer(req, res, m, d).then((reply) => {
        if (reply === null) return;
        d.observe(m.checkin.method, m.checkin.path, reply.status, Number(process.hrtime.bigint() - started) / 1e9);
        if (reply.checkIn) d.checkedIn(m.adapter);
      });
    });
    return true;
  };
}

/** The kept answer written, or null when the Express route got the request. */
async function answer(req: IncomingMessage, res: ServerResponse, m: MountedFastCheckin, d: FastCheckinDeps): Promise<FastReply | null> {
  let body: Buffer;
  try {
    body = await readBody(req);
  } catch {
    return null; // the client went away mid-body: nobody to answer
  }
  try {
    const reply = await m.checkin.answer(req, body);
    if (reply) {
      send(res, reply);
      return reply;
    }
  } catch (err) {
    // The check-in may have written (the Windows message's state): never applied twice, answered here as errorHandler would.
    if (err instanceof FastCheckinFailed) return res.headersSent ? null : failed(res, err.reason, m, d);
    // Whatever went wrong, the route meets it again and answers it as it always did (503, 500 and the log).
    d.log.debug({ err: (err as Error)?.message, path: m.checkin.path }, 'fast check-in handed to the route after an error');
    if (res.headersSent) return null;
  }
  return handOn(req, res, body, m.checkin, d);
}

/**
 * What errors.ts errorHandler answers for the same error: 503 + Retry-After
 * for a busy device (another instance wrote its state meanwhile) or an
 * unavailable database, else 500 with the error logged. Counted as the route's.
 */
function failed(res: ServerResponse, err: unknown, m: MountedFastCheckin, d: FastCheckinDeps): FastReply {
  let reply: FastReply;
  if (err instanceof DeviceBusyError) reply = jsonReply(503, err.message, { 'Retry-After': '5' });
  else if (isDatabaseUnavailable(err)) {
    d.log.warn({ err: (err as Error)?.message, method: m.checkin.method, path: m.checkin.path }, 'the database is unavailable: answered 503');
    reply = jsonReply(503, 'the database is unavailable; retry later', { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) });
  } else {
    d.log.error({ err, method: m.checkin.method, path: m.checkin.path }, 'unhandled error');
    reply = jsonReply(500, 'internal error; see the gateway log');
  }
  send(res, reply);
  return reply;
}

function jsonReply(status: number, error: string, headers: Record<string, string> = {}): FastReply {
  return { status, headers: { ...headers, 'Content-Type': 'application/json; charset=utf-8' }, body: JSON.stringify({ error }) };
}

/** Only bodies Express's parsers would take as they come: declared length within the route's limit, no content coding. */
function plainBody(req: IncomingMessage, c: FastCheckin): boolean {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  if (req.headers['transfer-encoding'] !== undefined) return false;
  const length = Number(req.headers['content-length'] ?? 0);
  if (!Number.isSafeInteger(length)) return false;
  return c.method === 'GET' ? length === 0 : length <= c.maxBodyBytes;
}

/** The whole body (its declared length, which plainBody bounded); Node's parser stops at the length. */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('request aborted'));
    });
  });
}

/** A reply as it goes out: the head as writeHead's flat [name, value, ...] list, the body encoded. */
interface Wire {
  head: string[];
  body: Buffer | null;
}

// Adapters hand out the same FastReply object for the same kept answer (policy-fetch.ts,
// fast-idle.ts): its head list and encoded body are built once, not per request (issue 13).
const wires = new WeakMap<FastReply, Wire>();

/** Content-Length as Node gives Express's res.end (0 for no body; none on a 304). */
function wireOf(r: FastReply): Wire {
  let w = wires.get(r);
  if (w) return w;
  const head = Object.entries(r.headers).flat();
  if (r.status === 304) w = { head, body: null };
  else {
    const body = Buffer.from(r.body ?? '');
    w = { head: [...head, 'content-length', String(body.byteLength)], body };
  }
  wires.set(r, w);
  return w;
}

/** Head and body in one writev(2) (Node corks the socket for end()). */
function send(res: ServerResponse, r: FastReply): void {
  const w = wireOf(r);
  res.writeHead(r.status, w.head);
  if (w.body === null) res.end();
  else res.end(w.body);
}

/** What express.text (raw-body, iconv-lite utf-8) makes of a UTF-8 body: the text, without a byte-order mark. */
function utf8Text(body: Buffer): string {
  const text = body.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * To the Express route, with the body it would have read: body-parser skips a
 * request whose stream has ended and keeps req.body (what `express.raw` sets).
 * Counted there, so null here.
 */
function handOn(req: IncomingMessage, res: ServerResponse, body: Buffer, c: FastCheckin, d: FastCheckinDeps): null {
  if (req.method !== 'GET') (req as IncomingMessage & { body?: Buffer | string }).body = c.textBody ? utf8Text(body) : body;
  d.fallThrough(req, res);
  return null;
}
