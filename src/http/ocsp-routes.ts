import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { OCSP_LIMITS } from '../core/input-limits.js';
import type { OcspAnswer, OcspResponder } from '../ca/ocsp/responder.js';
import { errorResponse } from '../ca/ocsp/response-builder.js';

// The OCSP responder over HTTP (RFC 6960 appendix A): POST /ocsp with the DER
// request as the body, GET /ocsp/<url-encoded base64 DER>. Every answer,
// refusals included, is an application/ocsp-response with HTTP 200: relying
// parties read the OCSP status, not the HTTP one. GET answers that carry no
// nonce are HTTP-cacheable until nextUpdate (RFC 5019 section 6); POST
// answers are not.

export const OCSP_PATH = '/ocsp';

/** Base64 of the largest request we read, URL-encoded ('/', '+' and '=' become %2F, %2B, %3D): a longer path is refused unread. */
const MAX_GET_PATH = Math.ceil(OCSP_LIMITS.maxRequestBytes / 3) * 4 * 3;

export function ocspRoutes(responder: OcspResponder): Router {
  const r = Router();
  const body = express.raw({ type: () => true, limit: OCSP_LIMITS.maxRequestBytes });

  r.post(OCSP_PATH, body, async (req: Request, res: Response) => {
    const der = Buffer.isBuffer(req.body) ? new Uint8Array(req.body) : new Uint8Array(0);
    send(res, await responder.respond(der), false);
  });

  // No capture group: the router would percent-decode it and fail on bad escapes before we see the request.
  r.get(/^\/ocsp(?:\/.*)?$/, async (req: Request, res: Response) => {
    send(res, await responder.respond(getRequestDer(req.originalUrl)), true);
  });

  // The body parser's refusals (too large, a bad Content-Encoding) are OCSP refusals too, never an HTML error page.
  r.use(OCSP_PATH, (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const e = err as { type?: string; status?: number };
    if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
      res.set('Connection', 'close');
      send(res, { der: errorResponse('malformedRequest'), outcome: 'malformedRequest', cacheable: null }, false);
      return;
    }
    next(err);
  });
  return r;
}

/**
 * The request DER from a GET path, read from the raw URL: base64's '/' may
 * come encoded (%2F) or not, so the whole rest of the path is one value.
 * Anything unreadable gives empty bytes, which the responder refuses as malformedRequest.
 */
export function getRequestDer(originalUrl: string): Uint8Array {
  const path = originalUrl.split('?')[0]!;
  const encoded = path.slice(OCSP_PATH.length + 1);
  if (encoded.length === 0 || encoded.length > MAX_GET_PATH) return new Uint8Array(0);
  let b64: string;
  try {
    b64 = decodeURIComponent(encoded);
  } catch {
    return new Uint8Array(0);
  }
  // Base64 (RFC 4648 section 4; url-safe letters accepted too), padding optional.
  if (!/^[A-Za-z0-9+/\-_]+={0,2}$/.test(b64)) return new Uint8Array(0);
  const der = Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return der.length > OCSP_LIMITS.maxRequestBytes ? new Uint8Array(0) : new Uint8Array(der);
}

/**
 * The HTTP headers of an answer: GET answers without a nonce are cacheable
 * until nextUpdate (RFC 5019 section 6) and get an ETag; everything else is no-store.
 */
export function ocspHeaders(answer: OcspAnswer, viaGet: boolean, now = Date.now()): Record<string, string> {
  const c = viaGet ? answer.cacheable : null;
  if (!c) return { 'Content-Type': 'application/ocsp-response', 'Cache-Control': 'no-store' };
  const maxAge = Math.max(0, Math.floor((c.nextUpdate.getTime() - now) / 1000));
  return {
    'Content-Type': 'application/ocsp-response',
    'Cache-Control': `max-age=${maxAge}, public, no-transform, must-revalidate`,
    ETag: c.etag,
    'Last-Modified': c.producedAt.toUTCString(),
    Expires: c.nextUpdate.toUTCString(),
  };
}

function send(res: Response, answer: OcspAnswer, viaGet: boolean): void {
  res.status(200).set(ocspHeaders(answer, viaGet));
  // res.send answers If-None-Match with 304; res.end adds no ETag and no 304 for what must not be cached.
  if (viaGet && answer.cacheable) res.send(Buffer.from(answer.der));
  else res.end(Buffer.from(answer.der));
}
