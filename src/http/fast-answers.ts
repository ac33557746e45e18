import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { ScepService } from '../scep/service.js';
import { SCEP_PATHS } from './scep-routes.js';

// The answers that are the same for every client and asked for most often
// (liveness probes every few seconds, GetCACaps + GetCACert before every SCEP
// enrollment) are written straight to the socket in front of Express: no
// router, no request-source context, no body parser, no ETag hashing, no
// histogram (issue 13: ~0.7 ms of CPU each through the full stack). Anything
// else, including these paths with another method or an odd query, falls
// through to the Express app unchanged, which still answers them the same way.

export interface FastAnswerCounter {
  /** Counted like any other request (mdmgw_http_requests_total), without the latency histogram. */
  answered(route: string, status: number): void;
}

const SCEP = new Set(SCEP_PATHS);
const HEALTHZ = Buffer.from(JSON.stringify({ status: 'ok' }));
const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';
const CA_RA_CERT_TYPE = 'application/x-x509-ca-ra-cert';
/** The two queries SCEP clients send as they are, read without a query parser; any other spelling is parsed. */
const EXACT_OPERATIONS = new Map([
  ['operation=GetCACaps', 'GetCACaps'],
  ['operation=GetCACert', 'GetCACert'],
]);

/** A request listener prefix: true when it answered (or will answer) the request, false to hand it on. */
export type FastAnswers = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The first of `answers` that takes the request (then false: Express). */
export function firstOf(...answers: FastAnswers[]): FastAnswers {
  return (req, res) => answers.some((a) => a(req, res));
}

/** A fixed answer: its body and its head as the flat [name, value, ...] list writeHead takes without walking an object. */
interface Prebuilt {
  body: Uint8Array;
  head: string[];
}

function prebuilt(type: string, body: Uint8Array): Prebuilt {
  return { body, head: ['content-type', type, 'content-length', String(body.byteLength)] };
}

export function fastAnswers(scep: ScepService, counter: FastAnswerCounter): FastAnswers {
  const healthz = prebuilt(JSON_TYPE, HEALTHZ);
  // Built again only when the service hands out another value (an RA renewal), not per request.
  let caps: { text: string; answer: Prebuilt } | null = null;
  let caCert: { der: Uint8Array; answer: Prebuilt } | null = null;
  const capsAnswer = (text: string) => (caps?.text === text ? caps : (caps = { text, answer: prebuilt(TEXT_TYPE, Buffer.from(text)) })).answer;
  const caCertAnswer = (der: Uint8Array) => (caCert?.der === der ? caCert : (caCert = { der, answer: prebuilt(CA_RA_CERT_TYPE, der) })).answer;
  const send = (res: ServerResponse, route: string, a: Prebuilt) => {
    res.writeHead(200, a.head);
    res.end(a.body);
    counter.answered(route, 200);
  };
  return (req, res) => {
    if (req.method !== 'GET' || !req.url) return false;
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    if (path === '/healthz' && q < 0) {
      send(res, '/healthz', healthz);
      return true;
    }
    if (q < 0 || !SCEP.has(path)) return false;
    const operation = operationOf(req.url.slice(q + 1));
    if (operation === 'GetCACaps') {
      void scep.caCaps().then(
        (text) => send(res, path, capsAnswer(text)),
        () => fail(res),
      );
      return true;
    }
    // With message= (a CA name, RFC 8894 4.2.1) the SCEP route picks the CA's chain (operationOf says null).
    if (operation === 'GetCACert') {
      void scep.caCert().then(
        (der) => send(res, path, caCertAnswer(der)),
        () => fail(res),
      );
      return true;
    }
    return false;
  };
}

/** GetCACaps, or GetCACert without a CA name (message=), else null: the operation this path answers. */
function operationOf(search: string): string | null {
  const exact = EXACT_OPERATIONS.get(search);
  if (exact) return exact;
  const query = parseQuery(search);
  if (query.operation === 'GetCACaps') return 'GetCACaps';
  if (query.operation === 'GetCACert' && query.message === undefined) return 'GetCACert';
  return null;
}

function fail(res: ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('internal error\n');
}
