import type { NextFunction, Request, Response } from 'express';
import { DeviceBusyError } from '../core/device-lock.js';
import { z } from 'zod';
import { fieldIssues } from '../core/field-issues.js';
import { StorageConflictError } from '../core/storage/storage.js';
import { isDatabaseUnavailable } from '../core/storage/db-errors.js';
import type { Logger } from '../log.js';

// One error shape for the whole API: {error, issues?}. Handlers throw; this
// turns what they throw into the status a client can act on.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new HttpError(404, `${what} not found`);

/** Retry-After (seconds) while the database cannot be reached: about the time a PostgreSQL restart or fail-over takes. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/** Parses a body with a zod schema, or throws 400 with one issue per bad field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    throw new HttpError(400, 'invalid request body', fieldIssues(r.error));
  }
  return r.data;
}

export function errorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof HttpError) {
      res.status(err.status).json({ error: err.message, ...(err.issues && { issues: err.issues }) });
      return;
    }
    // Another instance holds the device's session longer than we wait: the device retries.
    if (err instanceof DeviceBusyError) {
      res.setHeader('Retry-After', '5');
      res.status(503).json({ error: err.message });
      return;
    }
    if (err instanceof StorageConflictError) {
      res.status(err.kind === 'not-found' ? 404 : 409).json({ error: err.message });
      return;
    }
    const e = err as { type?: string; status?: number; message?: string };
    if (e?.type === 'entity.parse.failed') {
      res.status(400).json({ error: 'request body is not valid JSON' });
      return;
    }
    if (e?.type === 'entity.too.large') {
      res.status(413).json({ error: 'request body too large' });
      return;
    }
    // Other body-parser refusals (unsupported charset or Content-Encoding) carry their 4xx status.
    if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && typeof e.type === 'string') {
      res.status(e.status).json({ error: e.message ?? 'bad request' });
      return;
    }
    // The database is down or restarting: a retry will do (device clients and
    // load balancers honour Retry-After), not a 500 that reads as a gateway bug.
    if (isDatabaseUnavailable(err)) {
      log.warn({ err: (err as Error)?.message, method: req.method, path: req.path }, 'the database is unavailable: answered 503');
      res.status(503).set('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS)).json({ error: 'the database is unavailable; retry later' });
      return;
    }
    log.error({ err, method: req.method, path: req.path }, 'unhandled error');
    res.status(500).json({ error: 'internal error; see the gateway log' });
  };
}
