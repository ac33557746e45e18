import { sql, type Expression, type SqlBool } from 'kysely';
import type { CreatedPosition } from '../storage.js';

// Keyset paging in creation order, (created_at, id), for the admin lists of
// groups, assignments and profiles (issue 13; devices and users write the
// same condition in place). Each list has an index on its (created_at, id)
// (migrations 0019 and 0020), so a page is an index walk stopped by LIMIT.

/** The page limit a store accepts (the API's 1..1000 plus headroom for internal walks). */
export function checkPageLimit(limit: number, what: string): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new RangeError(`${what} page limit must be 1..10000, got ${limit}`);
}

/**
 * The rows after `after` in (created_at, id) order of `table` (an alias or a
 * table name). The leading created_at >= is what lets both databases seek the
 * index to the cursor; the OR alone walks it from the first row.
 */
export function afterCreated(table: string, after: CreatedPosition): Expression<SqlBool> {
  const at = sql.ref(`${table}.created_at`);
  const id = sql.ref(`${table}.id`);
  return sql<SqlBool>`(${at} >= ${after.createdAt} and (${at} > ${after.createdAt} or ${id} > ${after.id}))`;
}
