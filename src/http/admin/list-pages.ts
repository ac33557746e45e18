import type { Request, Response } from 'express';
import { z } from 'zod';
import type { Device } from '../../core/model.js';
import type { CreatedPosition, DevicePosition } from '../../core/storage/storage.js';
import { fieldIssues } from '../../core/field-issues.js';
import { HttpError } from '../errors.js';
import { decodePageCursor, encodePageCursor } from './page-cursor.js';

// Paging of the admin lists that grow with the fleet (issue 13): GET /devices
// and GET /audit, next to GET /users and GET /certificates. The answer stays
// the array it was before paging; the next page's opaque cursor comes in the
// X-Next-Cursor header and a Link rel="next", absent on the last page.

export const DEFAULT_DEVICE_PAGE = 100;
export const MAX_DEVICE_PAGE = 1000;
export const DEFAULT_AUDIT_PAGE = 200;
export const MAX_AUDIT_PAGE = 1000;

/** `?limit=`: a whole number min..max given once; `1.5`, `1e3`, `` and repeats are refused with the bounds. */
export const pageLimit = (max: number, fallback: number) =>
  z
    .string({ message: 'limit must be given once' })
    .regex(/^\d{1,6}$/, `limit must be a whole number 1..${max}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, `limit must be a whole number 1..${max}`)
    .describe(`a whole number 1..${max}, default ${fallback}`)
    .default(fallback);

const cursorParam = (name: string) => z.string({ message: `${name} must be given once` }).max(512, `${name} is not a cursor this API returned`);

export const deviceListQuery = z.strictObject({
  limit: pageLimit(MAX_DEVICE_PAGE, DEFAULT_DEVICE_PAGE),
  after: cursorParam('after').optional().describe('the X-Next-Cursor of the previous page'),
});

export function encodeDeviceCursor(d: Device): string {
  return encodePageCursor(d.createdAt, d.id);
}

export function decodeDeviceCursor(cursor: string): DevicePosition {
  const [createdAt, id] = decodePageCursor(cursor, 'after', /^[0-9a-f-]{36}$/);
  return { createdAt, id };
}

/** Audit pages walk back from the newest: the cursor is the oldest record's (at, id) of the page just sent. */
export function encodeAuditCursor(e: { at: string; id: number }): string {
  return encodePageCursor(e.at, String(e.id));
}

export function decodeAuditCursor(cursor: string): number {
  return Number(decodePageCursor(cursor, 'before', /^[1-9]\d{0,15}$/)[1]);
}

/** Sets X-Next-Cursor and Link rel="next" (the same request with `param` set to the cursor). */
export function linkNextPage(req: Request, res: Response, param: string, cursor: string): void {
  const url = new URL(req.originalUrl, 'http://gateway.invalid');
  url.searchParams.set(param, cursor);
  res.set('X-Next-Cursor', cursor);
  res.set('Link', `<${url.pathname}${url.search}>; rel="next"`);
}

// GET /groups, /assignments and /profiles (scale12): the same paging in
// creation order, (createdAt, id), for what an admin configures, which a
// directory's groups or per-device assignments can also make large.
export const DEFAULT_CREATED_PAGE = 100;
export const MAX_CREATED_PAGE = 1000;

/** `limit` and `after` plus the list's own parameters; anything else is a 400 naming it. */
export function createdListQuery<E extends z.ZodRawShape>(extra: E) {
  return z.strictObject({
    limit: pageLimit(MAX_CREATED_PAGE, DEFAULT_CREATED_PAGE),
    after: cursorParam('after').optional().describe('the X-Next-Cursor of the previous page'),
    ...extra,
  });
}

export function decodeCreatedCursor(cursor: string): CreatedPosition {
  const [createdAt, id] = decodePageCursor(cursor, 'after', /^[0-9a-f-]{36}$/);
  return { createdAt, id };
}

/** Parses the list query (400 naming the bad parameter), reads one more row than the page, links the next page, answers the array. */
export async function answerCreatedPage<Q extends { limit: number; after?: string | undefined }, T extends { createdAt: string; id: string }>(
  req: Request,
  res: Response,
  schema: z.ZodType<Q, any>,
  read: (q: Omit<Q, 'after' | 'limit'> & { limit: number; after?: CreatedPosition }) => Promise<T[]>,
): Promise<void> {
  const parsed = schema.safeParse(req.query);
  if (!parsed.success) throw new HttpError(400, 'invalid query', fieldIssues(parsed.error));
  const { after, limit, ...rest } = parsed.data;
  // One more than the page: whether it exists decides the next cursor.
  const rows = await read({ ...rest, limit: limit + 1, ...(after !== undefined && { after: decodeCreatedCursor(after) }) });
  const page = rows.slice(0, limit);
  if (rows.length > limit) {
    const last = page[page.length - 1]!;
    linkNextPage(req, res, 'after', encodePageCursor(last.createdAt, last.id));
  }
  res.json(page);
}
