import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { ScepAdmission } from '../core/admission.js';
import { isDatabaseUnavailable } from '../core/storage/db-errors.js';
import { TokenError } from '../ca/pkcs11/token.js';
import type { Logger } from '../log.js';
import { ScepMessageError } from '../scep/codec/index.js';
import type { ScepService } from '../scep/service.js';
import { DATABASE_RETRY_AFTER_SECONDS } from './errors.js';
import type { FastAnswers } from './fast-answers.js';
import { BUSY_RETRY_AFTER_SECONDS, SCEP_MAX_MESSAGE_BYTES, SCEP_PATHS } from './scep-routes.js';

// POST PKIOperation (every SCEP enrollment but certmonger's GET) in front of
// Express (issue 13): no router, no body-parser stream, no ETag hash, no
// per-request middleware closures. Everything the Express route does is done
// here in the same order with the same answers: the admission gate before
// the body is read (429 out of failure budget, 503 all slots taken, both with
// Retry-After, the slot held until the answer is sent), 413 over 256 KiB, 400
// for an empty or unreadable pkiMessage, the failure budget spent on FAILURE
// and unreadable messages, the client address as the request source of the
// audit log (passed down, not an AsyncLocalStorage scope), the request counter and latency histogram under the same route
// label. Anything else (GET, per-CA paths, a compressed body, another
// operation) falls through to the Express route unchanged.

export interface FastPkiOperationDeps {
  scep: ScepService;
  log: Logger;
  admission?: ScepAdmission;
  /** Counted and timed like the Express route (mdmgw_http_requests_total, mdmgw_http_request_duration_seconds). */
  observe(route: string, status: number, seconds: number): void;
}

const SCEP = new Set(SCEP_PATHS);

type Answer = { status: number; type: string; body: Uint8Array | string; headers?: Record<string, string> };
const text = (status: number, body: string, headers?: Record<string, string>): Answer => ({ status, type: 'text/plain; charset=utf-8', body, ...(headers && { headers }) });
const json = (status: number, body: unknown, headers?: Record<string, string>): Answer => ({ status, type: 'application/json; charset=utf-8', body: JSON.stringify(body), ...(headers && { headers }) });

export function fastPkiOperation(d: FastPkiOperationDeps): FastAnswers {
  return (req, res) => {
    if (req.method !== 'POST' || !req.url) return false;
    const q = req.url.indexOf('?');
    if (q < 0) return false;
    const route = req.url.slice(0, q);
    if (!SCEP.has(route) || parseQuery(req.url.slice(q + 1)).operation !== 'PKIOperation') return false;
    // Express's raw parser inflates gzip/deflate bodies; no SCEP client sends one, so those take the long way.
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;

    const started = process.hrtime.bigint();
    const send = (a: Answer) => {
      if (res.headersSent) return;
      const body = typeof a.body === 'string' ? Buffer.from(a.body) : a.body;
      res.writeHead(a.status, { ...a.headers, 'content-type': a.type, 'content-length': body.byteLength });
      res.end(body);
      d.observe(route, a.status, Number(process.hrtime.bigint() - started) / 1e9);
    };
    // What Express reports as req.ip with `trust proxy` off.
    const source = req.socket.remoteAddress ?? 'unknown';
    const gate = admit(d.admission, source, res);
    if (gate) {
      send(gate);
      return true;
    }
    // The source goes down as an argument (the audit's per-source limit), not
    // through an AsyncLocalStorage scope: run() and the context it carries
    // through every promise of the enrollment were 4% of its CPU (issue 13).
    answer(d, req, source).then(send, (err: unknown) => send(unexpected(d.log, err, route)));
    return true;
  };
}

/** The admission gate of core/admission.ts, before a byte of the body is read; null = admitted (the slot is released on close). */
function admit(admission: ScepAdmission | undefined, source: string, res: ServerResponse): Answer | null {
  if (!admission) return null;
  const wait = admission.failures.retryAfterMs(source);
  if (wait > 0) {
    const seconds = Math.ceil(wait / 1000);
    return text(429, `too many failed SCEP requests from this address: retry in ${seconds} s\n`, { 'retry-after': String(seconds) });
  }
  const release = admission.inFlight.tryEnter();
  if (!release) {
    return text(503, `busy: ${admission.inFlight.max} enrollments in progress, retry in ${BUSY_RETRY_AFTER_SECONDS} s\n`, { 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) });
  }
  res.once('close', release);
  return null;
}

async function answer(d: FastPkiOperationDeps, req: IncomingMessage, source: string): Promise<Answer> {
  const der = await readBody(req);
  if (der === 'too-large') return json(413, { error: 'request body too large' });
  if (der === 'aborted') return json(400, { error: 'request aborted' });
  if (der.length === 0) return text(400, 'empty pkiMessage\n');
  const failed = () => d.admission?.failures.failed(source);
  try {
    const result = await d.scep.pkiOperation(der, source);
    if (result.status === 'FAILURE') failed();
    return { status: 200, type: 'application/x-pki-message', body: result.body };
  } catch (e) {
    if (e instanceof ScepMessageError) {
      failed();
      d.log.warn({ reason: e.code, detail: e.message }, 'unreadable pkiMessage');
      return text(400, `${e.code}: ${e.message}\n`);
    }
    // The CA or RA key is in a PKCS#11 token that is not answering (docs/hsm.md): the client may retry later.
    if (e instanceof TokenError) {
      d.log.error({ ckr: e.ckr ?? undefined, detail: e.message }, 'SCEP request not answered: the PKCS#11 token is not available');
      return text(503, 'the CA key store (PKCS#11 token) is not available; try again later\n', { 'retry-after': '60' });
    }
    throw e;
  }
}

/** The body, at most SCEP_MAX_MESSAGE_BYTES (declared or sent); 'too-large' stops reading, as Express's raw parser does. */
function readBody(req: IncomingMessage): Promise<Uint8Array | 'too-large' | 'aborted'> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > SCEP_MAX_MESSAGE_BYTES) return Promise.resolve('too-large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > SCEP_MAX_MESSAGE_BYTES) {
        req.off('data', onData);
        req.pause();
        resolve('too-large');
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
    // The client went away mid-body: nothing to answer (Express's parser reports 'request aborted').
    req.once('close', () => {
      if (!req.complete) resolve('aborted');
    });
  });
}

/** As the Express error handler answers (http/errors.ts): 503 while the database is away, else 500 and the log. */
function unexpected(log: Logger, err: unknown, path: string): Answer {
  if (isDatabaseUnavailable(err)) {
    log.warn({ err: (err as Error)?.message, method: 'POST', path }, 'the database is unavailable: answered 503');
    return json(503, { error: 'the database is unavailable; retry later' }, { 'retry-after': String(DATABASE_RETRY_AFTER_SECONDS) });
  }
  log.error({ err, method: 'POST', path }, 'unhandled error');
  return json(500, { error: 'internal error; see the gateway log' });
}
