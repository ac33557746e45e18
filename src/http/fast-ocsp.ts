import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OcspAnswer, OcspResponder } from '../ca/ocsp/responder.js';
import { errorResponse } from '../ca/ocsp/response-builder.js';
import { OCSP_LIMITS } from '../core/input-limits.js';
import type { FastAnswers } from './fast-answers.js';
import { getRequestDer, OCSP_PATH, ocspHeaders } from './ocsp-routes.js';

// OCSP in front of Express, as http/fast-answers.ts does for the static SCEP
// answers: a RADIUS or VPN server may ask on every client authentication, and
// the responder answers a cached status in about a tenth of what the Express
// stack around it costs. Same answers and headers as http/ocsp-routes.ts (which
// stays for what this leaves to it): a conditional GET (If-None-Match /
// If-Modified-Since, answered 304 there) and a POST with a Content-Encoding
// (inflated by the body parser there) fall through.

export type RequestCounter = (method: string, route: string, status: number) => void;

const MALFORMED: OcspAnswer = { der: errorResponse('malformedRequest'), outcome: 'malformedRequest', cacheable: null };

export function fastOcsp(responder: OcspResponder, count: RequestCounter): FastAnswers {
  const answer = (res: ServerResponse, route: string, method: string, der: Uint8Array, viaGet: boolean) => {
    responder.respond(der).then(
      (a) => write(res, a, viaGet, () => count(method, route, 200)),
      () => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('internal error\n');
        count(method, route, 500);
      },
    );
  };
  return (req, res) => {
    const url = req.url ?? '';
    if (req.method === 'GET' && url.startsWith(`${OCSP_PATH}/`) && !conditional(req)) {
      answer(res, `${OCSP_PATH}/{request}`, 'GET', getRequestDer(url), true);
      return true;
    }
    if (req.method === 'POST' && url === OCSP_PATH && !encoded(req)) {
      readBody(req, OCSP_LIMITS.maxRequestBytes).then(
        (body) => {
          if (body) return answer(res, OCSP_PATH, 'POST', body, false);
          // As the Express route does for a body over the limit: refused, and the connection closed (the rest is unread).
          res.setHeader('Connection', 'close');
          write(res, MALFORMED, false, () => count('POST', OCSP_PATH, 200));
        },
        () => res.destroy(),
      );
      return true;
    }
    return false;
  };
}

function write(res: ServerResponse, a: OcspAnswer, viaGet: boolean, counted: () => void): void {
  const body = Buffer.from(a.der.buffer, a.der.byteOffset, a.der.byteLength);
  res.writeHead(200, { ...ocspHeaders(a, viaGet), 'Content-Length': body.byteLength });
  res.end(body);
  counted();
}

const conditional = (req: IncomingMessage) => req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined;
const encoded = (req: IncomingMessage) => {
  const e = req.headers['content-encoding'];
  return e !== undefined && e.toLowerCase() !== 'identity';
};

/** The body, or null when it is (or says it is) over `limit` bytes. Rejects when the client goes away. */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array | null> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(new Uint8Array(Buffer.concat(chunks, size))));
    req.once('error', reject);
    req.once('aborted', () => reject(new Error('aborted')));
  });
}
