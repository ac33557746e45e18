import { sql, type RawBuilder } from 'kysely';
import type { SqlDialect } from '../migrations.js';

// Case-insensitive prefix search that an index can serve (GET /users?q=,
// issue 13): `lower(column)` compared as a range [q, q with its last
// character raised by one). In byte order that range is exactly the strings
// starting with q, so no LIKE recheck is needed. SQLite compares text in
// byte order (BINARY) already; PostgreSQL compares in the database's
// collation, where a range is not a prefix, so there the key is
// `lower(column) collate "C"` (byte order) — in the index (migration
// 0020_list_search_indexes) and in the query alike, or the index is not used.

// Migration 0020 builds its indexes from USER_SEARCH_INDEXES and
// caseFoldedKey below, so the indexed expression is this one by construction.
// Changing either needs a NEW migration that rebuilds the indexes (stores
// already migrated keep the old expression) — test/storage/list-search-plans
// checks that the query still reads them.

/** The users columns `q` searches, with the expression index of each (migration 0020). */
export const USER_SEARCH_INDEXES = {
  user_principal_name: 'users_upn_prefix_idx',
  email: 'users_email_prefix_idx',
  display_name: 'users_display_name_prefix_idx',
} as const;

export type UserSearchColumn = keyof typeof USER_SEARCH_INDEXES;

/** The indexed expression: the same text in the migration and in the query. */
export function caseFoldedKey(column: string, dialect: SqlDialect): RawBuilder<string> {
  return dialect === 'postgres' ? sql<string>`(lower(${sql.ref(column)}) collate "C")` : sql<string>`lower(${sql.ref(column)})`;
}

/**
 * [from, to) of the strings that start with `prefix` (already lower-cased),
 * in code point order (= UTF-8 byte order); `to` undefined when nothing
 * sorts above the prefix's last character.
 */
export function prefixRange(prefix: string): { from: string; to: string | undefined } {
  const chars = [...prefix];
  const last = chars.pop()!.codePointAt(0)!;
  // Skip the surrogate block: a lone surrogate is not text either database stores.
  const next = last === 0xd7ff ? 0xe000 : last + 1;
  return { from: prefix, to: next > 0x10ffff ? undefined : chars.join('') + String.fromCodePoint(next) };
}

/** `key(c) >= from and key(c) < to`, or-ed over `columns`: one index range per column. */
export function startsWithIgnoringCase(columns: readonly UserSearchColumn[], prefix: string, dialect: SqlDialect): RawBuilder<boolean> {
  const { from, to } = prefixRange(prefix.toLowerCase());
  const one = (c: UserSearchColumn) => {
    const key = caseFoldedKey(c, dialect);
    return to === undefined ? sql`${key} >= ${from}` : sql`(${key} >= ${from} and ${key} < ${to})`;
  };
  return sql<boolean>`(${sql.join(columns.map(one), sql` or `)})`;
}
