import { HttpError } from '../errors.js';

// Keyset-paging cursors of the admin API (GET /users, GET /certificates):
// opaque to clients, they hold the last row's sort key (a timestamp and an
// id), so the next page starts right after it whatever was added since.

export function encodePageCursor(at: string, id: string, order?: string): string {
  // A list with a second order (certificates by expiry) names it, so a cursor of one order is refused by the other.
  return Buffer.from(JSON.stringify(order === undefined ? [at, id] : [at, id, order])).toString('base64url');
}

/**
 * The [timestamp, id] a cursor holds; a 400 naming `param` for anything this
 * API did not hand out (not base64url JSON, not two strings, a bad timestamp,
 * an id that `idShape` refuses).
 */
export function decodePageCursor(cursor: string, param: string, idShape: RegExp, order?: string): [at: string, id: string] {
  const bad = () => new HttpError(400, 'invalid query', [{ path: param, message: `the ${param} value is not a cursor this API returned` }]);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(v) || v.length !== (order === undefined ? 2 : 3) || typeof v[0] !== 'string' || typeof v[1] !== 'string') throw bad();
  if (order !== undefined && v[2] !== order) throw bad();
  const [at, id] = v as [string, string];
  if (Number.isNaN(Date.parse(at)) || !idShape.test(id)) throw bad();
  return [at, id];
}
