import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, expect, vi } from 'vitest';
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';
import type { Storage } from '../../src/core/storage/storage.js';

// A fresh SQLite store per test whose prepared SQL is captured, and
// EXPLAIN QUERY PLAN of a captured statement (the query-plan tests of issue
// 13). SQLite's plan does not depend on the row count (no ANALYZE), so an
// empty store shows it.

export interface PlanStore {
  readonly storage: Storage;
  /** Every SQL text prepared since the test began. */
  readonly captured: string[];
  /** SQLite's plan detail lines for `sql`, each `?` bound to `param`. */
  explain(sql: string, param: unknown): string[];
  /** The plan of the last captured statement matching `pattern` (one must), its lines joined by '; '. */
  planOfLast(pattern: RegExp, param: unknown): string;
}

/** Registers beforeEach/afterEach; read the returned object inside tests only. */
export function sqlitePlanStore(prefix: string): PlanStore {
  let dir = '';
  const store = { storage: undefined as unknown as Storage, captured: [] as string[], explain, planOfLast };
  function planOfLast(pattern: RegExp, param: unknown): string {
    const sql = store.captured.filter((s) => pattern.test(s)).at(-1);
    expect(sql, `a statement matching ${pattern} in ${JSON.stringify(store.captured)}`).toBeDefined();
    return explain(sql!, param).join('; ');
  }
  function explain(sql: string, param: unknown): string[] {
    const db = new BetterSqlite3(path.join(dir, 'mdmgw.sqlite'), { readonly: true });
    try {
      const params = Array((sql.match(/\?/g) ?? []).length).fill(param);
      return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail);
    } finally {
      db.close();
    }
  }
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), prefix));
    store.storage = await openSqliteStorage(path.join(dir, 'mdmgw.sqlite'));
    store.captured = [];
    const prepare = BetterSqlite3.prototype.prepare;
    vi.spyOn(BetterSqlite3.prototype, 'prepare').mockImplementation(function (this: BetterSqlite3.Database, sql: string) {
      store.captured.push(sql);
      return prepare.call(this, sql);
    });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await store.storage.close();
    await rm(dir, { recursive: true, force: true });
  });
  return store;
}
