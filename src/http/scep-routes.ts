import express, { type NextFunction, type Request, type Response, Router } from 'express';
import type { ScepAdmission } from '../core/admission.js';
import { decodeGetMessageParam, ScepMessageError } from '../scep/codec/index.js';
import { TokenError } from '../ca/pkcs11/token.js';
import type { ScepService } from '../scep/service.js';
import { SCEP_LIMITS } from '../core/input-limits.js';
import type { Logger } from '../log.js';

// Thin HTTP binding for the SCEP service at the NDES paths Windows and iOS
// admins already type. PKIOperation by GET (certmonger) and POST (everyone
// else), any request Content-Type (clients differ).

export const SCEP_PATHS = ['/certsrv/mscep/mscep.dll', '/certsrv/mscep/mscep.dll/pkiclient.exe', '/scep', '/scep/pkiclient.exe'];

/** Per-CA SCEP URLs (docs/enterprise-pki.md): GetCACert there returns that CA's chain; PKIOperation is the same service. */
export const CA_SCEP_PATHS = ['/scep/ca/:ca', '/scep/ca/:ca/pkiclient.exe'];

/** The SCEP URL of the CA `name` of the registry (profiles that name it as issuer get it in their payloads). */
export function caScepUrl(publicUrl: string, name: string): string {
  return `${publicUrl}/scep/ca/${encodeURIComponent(name)}`;
}

/** Larger POST bodies get 413 unread; the codec bounds BER depth and element count (scep/asn1/limits.ts). */
export const SCEP_MAX_MESSAGE_BYTES = SCEP_LIMITS.maxMessageBytes;
const MAX_MESSAGE = SCEP_MAX_MESSAGE_BYTES;

/** Retry-After (seconds) of GetCACert for a CA whose chain is not known yet: the gateway fetches it at once (at most once a minute). */
export const CHAIN_RETRY_AFTER_SECONDS = 60;

/** Retry-After (seconds) when every enrollment slot is taken: about the time a few enrollments take to finish. */
export const BUSY_RETRY_AFTER_SECONDS = 2;

const sourceOf = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';

export function scepRoutes(scep: ScepService, log: Logger, admission?: ScepAdmission): Router {
  const r = Router();
  const raw = express.raw({ type: () => true, limit: MAX_MESSAGE });

  // Before the body is read (core/admission.ts): a source out of failure budget
  // gets 429, a full gateway 503, both with Retry-After; the slot is held until
  // the answer is sent or the connection closes.
  const admit = (req: Request, res: Response, next: NextFunction) => {
    if (!admission || req.query.operation !== 'PKIOperation') return next();
    const wait = admission.failures.retryAfterMs(sourceOf(req));
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      res.status(429).set('Retry-After', String(seconds)).type('text/plain').send(`too many failed SCEP requests from this address: retry in ${seconds} s\n`);
      return;
    }
    const release = admission.inFlight.tryEnter();
    if (!release) {
      res.status(503).set('Retry-After', String(BUSY_RETRY_AFTER_SECONDS)).type('text/plain').send(`busy: ${admission.inFlight.max} enrollments in progress, retry in ${BUSY_RETRY_AFTER_SECONDS} s\n`);
      return;
    }
    res.once('close', release);
    next();
  };
  const failed = (req: Request) => admission?.failures.failed(sourceOf(req));

  const handle = async (req: Request, res: Response) => {
    const operation = String(req.query.operation ?? '');
    switch (operation) {
      case 'GetCACaps':
        res.type('text/plain').send(await scep.caCaps());
        return;
      case 'GetCACert': {
        // RFC 8894 4.2.1: message= may name the CA; ours are the CA registry's names (docs/enterprise-pki.md).
        // A CA's own SCEP URL (/scep/ca/<name>, what payloads of its profiles carry) names it for clients that send no message.
        const name = typeof req.params.ca === 'string' ? req.params.ca : typeof req.query.message === 'string' && req.query.message !== '' ? req.query.message : null;
        const certs = await scep.caCertFor(name);
        // A CA we have whose chain is not known yet (an upstream CA, docs/upstream-ca.md): try again later, not "no such CA".
        if (certs && 'unavailable' in certs) {
          res.status(503).set('Retry-After', String(CHAIN_RETRY_AFTER_SECONDS)).type('text/plain').send(`${certs.unavailable}\n`);
          return;
        }
        if (!certs) {
          res.status(404).type('text/plain').send(`no CA named "${String(name).slice(0, 40)}": GetCACert's message= names a CA of this gateway (or is left out for the default CA)\n`);
          return;
        }
        res.type('application/x-x509-ca-ra-cert').send(Buffer.from(certs));
        return;
      }
      case 'GetNextCACert': {
        const next = await scep.nextCaCert();
        if (!next) {
          // RFC 8894 3.5.2: only offered (GetCACaps) while a rollover is prepared.
          res.status(404).type('text/plain').send('no next CA/RA certificate: GetCACaps does not list GetNextCACert\n');
          return;
        }
        res.type('application/x-x509-next-ca-cert').send(Buffer.from(next));
        return;
      }
      case 'PKIOperation':
        return pkiOperation(req, res);
      case '':
        res.status(400).type('text/plain').send('missing ?operation= (GetCACaps, GetCACert, GetNextCACert or PKIOperation)\n');
        return;
      default:
        res.status(400).type('text/plain').send(`unsupported SCEP operation "${operation.slice(0, 40)}"\n`);
    }
  };

  const pkiOperation = async (req: Request, res: Response) => {
    let der: Uint8Array;
    if (req.method === 'POST') {
      der = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    } else {
      const message = rawQueryParam(req.originalUrl, 'message');
      if (message === null) {
        res.status(400).type('text/plain').send('PKIOperation by GET needs a message= parameter\n');
        return;
      }
      try {
        der = decodeGetMessageParam(message);
      } catch {
        res.status(400).type('text/plain').send('message= is not base64\n');
        return;
      }
    }
    if (der.length === 0) {
      res.status(400).type('text/plain').send('empty pkiMessage\n');
      return;
    }
    try {
      const result = await scep.pkiOperation(der);
      if (result.status === 'FAILURE') failed(req);
      res.type('application/x-pki-message').send(Buffer.from(result.body));
    } catch (e) {
      if (e instanceof ScepMessageError) {
        failed(req);
        log.warn({ reason: e.code, detail: e.message }, 'unreadable pkiMessage');
        res.status(400).type('text/plain').send(`${e.code}: ${e.message}\n`);
        return;
      }
      // The CA or RA key is in a PKCS#11 token that is not answering (docs/hsm.md): the client may retry later.
      if (e instanceof TokenError) {
        log.error({ ckr: e.ckr ?? undefined, detail: e.message }, 'SCEP request not answered: the PKCS#11 token is not available');
        res.status(503).set('retry-after', '60').type('text/plain').send('the CA key store (PKCS#11 token) is not available; try again later\n');
        return;
      }
      throw e;
    }
  };

  for (const p of [...SCEP_PATHS, ...CA_SCEP_PATHS]) {
    r.get(p, admit, handle);
    r.post(p, admit, raw, handle);
  }
  return r;
}

/**
 * The message parameter straight from the URL, before a query parser turns an
 * unescaped '+' into a space: base64 from some clients is not URL-encoded.
 */
function rawQueryParam(url: string, name: string): string | null {
  const q = url.indexOf('?');
  if (q < 0) return null;
  for (const part of url.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (key === name) return eq < 0 ? '' : part.slice(eq + 1);
  }
  return null;
}
