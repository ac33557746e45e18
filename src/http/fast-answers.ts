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

/** A request listener prefix: true when it answered (or will answer) the request, false to hand it on. */
export type FastAnswers = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The first of `answers` that takes the request (then false: Express). */
export function firstOf(...answers: FastAnswers[]): FastAnswers {
  return (req, res) => answers.some((a) => a(req, res));
}

export function fastAnswers(scep: ScepService, counter: FastAnswerCounter): FastAnswers {
  const send = (res: ServerResponse, route: string, type: string, body: Uint8Array) => {
    res.writeHead(200, { 'content-type': type, 'content-length': body.byteLength });
    res.end(body);
    counter.answered(route, 200);
  };
  return (req, res) => {
    if (req.method !== 'GET' || !req.url) return false;
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    if (path === '/healthz' && q < 0) {
      send(res, '/healthz', 'application/json; charset=utf-8', HEALTHZ);
      return true;
    }
    if (q < 0 || !SCEP.has(path)) return false;
    const query = parseQuery(req.url.slice(q + 1));
    const operation = query.operation;
    if (operation === 'GetCACaps') {
      void scep.caCaps().then(
        (caps) => send(res, path, 'text/plain; charset=utf-8', Buffer.from(caps)),
        () => fail(res),
      );
      return true;
    }
    // With message= (a CA name, RFC 8894 4.2.1) the SCEP route picks the CA's chain.
    if (operation === 'GetCACert' && query.message === undefined) {
      void scep.caCert().then(
        (der) => send(res, path, 'application/x-x509-ca-ra-cert', der),
        () => fail(res),
      );
      return true;
    }
    return false;
  };
}

function fail(res: ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('internal error\n');
}
