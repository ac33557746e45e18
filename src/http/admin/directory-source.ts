import { z } from 'zod';
import { DIRECTORY_SOURCES, type User } from '../../core/model.js';
import type { DirectoryStore } from '../../core/storage/directory-store.js';
import type { UserPosition } from '../../core/storage/storage.js';
import { HttpError } from '../errors.js';
import { decodePageCursor, encodePageCursor } from './page-cursor.js';

// Users and groups a directory sync owns (source other than local) are
// changed in the directory, not here: the next sync would undo an edit, or
// an edit would silently diverge from the directory. And the user list's
// paging, which the directory's thousands of users made necessary.

export const DEFAULT_USER_PAGE = 100;
export const MAX_USER_PAGE = 1000;

/**
 * GET /users?contains= reads at most this many users a request (issue 13): a
 * substring has no index, and 50,000 users cost 75 ms a request to walk;
 * 5,000 keep a request near the price of a plain page (docs/decisions.md).
 */
export const USERS_EXAMINED_PER_SEARCH = 5000;

export const userListQuery = z.strictObject({
  limit: z
    .string({ message: 'limit must be given once' })
    .regex(/^\d{1,4}$/, `limit must be a whole number 1..${MAX_USER_PAGE}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= MAX_USER_PAGE, `limit must be a whole number 1..${MAX_USER_PAGE}`)
    .describe(`a whole number 1..${MAX_USER_PAGE}, default ${DEFAULT_USER_PAGE}`)
    .default(DEFAULT_USER_PAGE),
  after: z.string({ message: 'after must be given once' }).max(512, 'after is not a cursor this API returned').optional(),
  source: z.enum(DIRECTORY_SOURCES, { message: `source must be one of ${DIRECTORY_SOURCES.join(', ')}` }).optional(),
  // q: how an admin finds someone (the start of a name or address), served by an index range per column (0020).
  q: z.string({ message: 'give q once' }).trim().min(1, 'q must not be empty').max(256, 'q must be at most 256 characters').optional().describe('a case-insensitive prefix of userPrincipalName, email or displayName (indexed)'),
  // contains: a substring anywhere, which no index serves: each request reads the next USERS_EXAMINED_PER_SEARCH users in creation order (docs/api.md).
  contains: z.string({ message: 'give contains once' }).trim().min(1, 'contains must not be empty').max(256, 'contains must be at most 256 characters').optional().describe('a case-insensitive substring of userPrincipalName, email or displayName (not indexed: each request reads at most 5,000 users; follow X-Next-Cursor, a page may hold fewer matches than limit)'),
});

/** Opaque to clients: the last row's sort key, so the next page starts right after it whatever was added since. */
export function encodeUserCursor(u: Pick<User, 'createdAt' | 'id'>): string {
  return encodePageCursor(u.createdAt, u.id);
}

export function decodeUserCursor(cursor: string): UserPosition {
  const [createdAt, id] = decodePageCursor(cursor, 'after', /^[0-9a-f-]{36}$/);
  return { createdAt, id };
}

export async function refuseSyncedUser(storage: DirectoryStore, id: string): Promise<void> {
  const u = await storage.getUser(id);
  if (u && u.source !== 'local') throw new HttpError(409, `the user is synced from the directory (source ${u.source}); change it there, the next sync brings it here`);
}

export async function refuseSyncedGroup(storage: DirectoryStore, id: string): Promise<void> {
  const g = await storage.getGroup(id);
  if (g && g.source !== 'local') throw new HttpError(409, `the group's members are synced from the directory (source ${g.source}); change them there`);
}
