import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, Kysely, SqliteAdapter, SqliteDialect, SqliteDriver } from 'kysely';
import type { DatabaseConnection, DialectAdapter, Driver, SqliteDialectConfig } from 'kysely';
import { KyselyStorage } from './kysely-storage.js';
import { executeDirectly } from './kysely/prepared.js';
import { LruCache } from '../../x509/lru-cache.js';
import type { Database } from './schema.js';
import type { Storage } from './storage.js';

// SQLite backend: better-sqlite3 behind Kysely's SqliteDialect.
//
// Transactions are real: Kysely's SQLite driver has exactly one connection and a
// mutex, so a transaction holds the connection from BEGIN to COMMIT/ROLLBACK and
// every other query (transactional or not) waits for it. Statements themselves are
// synchronous in better-sqlite3, so nothing interleaves inside a transaction.
//
// Transactions start with BEGIN IMMEDIATE (Kysely's driver says plain BEGIN, i.e.
// DEFERRED): the write lock is taken up front, so a transaction that reads before
// it writes cannot fail with SQLITE_BUSY when another process committed in the
// meantime; busy_timeout then makes other processes wait instead of failing.
//
// Migrations: Kysely's SqliteAdapter reports no transactional DDL, so its Migrator
// would run each migration outside a transaction and take no lock (SQLite "has one
// connection"), which is not true across processes. SQLite DDL is transactional, so
// we report it: the Migrator then runs the whole migration pass (reading the
// executed list, every pending migration, recording them) in one BEGIN IMMEDIATE
// transaction, which is atomic and excludes a second instance migrating the same file.
//
// Use one Storage per database file per process: two connections to the same file
// inside one process would block each other's thread in busy_timeout.

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** Statements kept per connection (distinct SQL texts; `in (?, ?, ...)` lists of other lengths are other texts). */
export const STATEMENT_CACHE_ENTRIES = 512;

/**
 * Kysely's SQLite driver prepares every query again; a check-in or an
 * enrollment runs the same dozen statements each time, and preparing them was
 * a visible share of the enrollment profile (issue 13). Prepared statements
 * are kept by SQL text. Safe because the driver runs one query at a time on
 * the one connection and only with all()/run() (nothing here streams, which
 * would hold a statement busy).
 */
function withStatementCache(sqlite: BetterSqlite3.Database, cache: LruCache<string, BetterSqlite3.Statement>): SqliteDialectConfig['database'] {
  return {
    prepare: (sql: string) => cache.getOrSet(sql, () => sqlite.prepare(sql)),
    close: () => {
      cache.clear();
      sqlite.close();
    },
  } as unknown as SqliteDialectConfig['database'];
}

/**
 * The connection's page cache when the caller names none (MDMGW_SQLITE_CACHE_MIB):
 * better-sqlite3's own build default (16,000 KiB, SQLITE_DEFAULT_CACHE_SIZE).
 * At 100,000 devices the certificates table's indexes do not fit in it, but
 * 64 MiB measured the same per enrollment (a missed page is a copy from the
 * OS cache; issue 13, docs/performance.md "At scale"), so the default keeps
 * the smaller footprint. The cache fills only as pages are read.
 */
export const DEFAULT_SQLITE_CACHE_MIB = 16;

export interface SqliteOptions {
  /** Page cache of the connection, MiB (PRAGMA cache_size). */
  cacheMiB?: number;
}

/** Opens (creating if needed) an SQLite database file and migrates it. `':memory:'` for tests. */
export async function openSqliteStorage(file: string, options: SqliteOptions = {}): Promise<Storage> {
  if (file !== ':memory:' && file !== '') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new BetterSqlite3(file);
  try {
    // WAL: readers never block the writer; ':memory:' answers 'memory' and that is fine.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    // Negative cache_size is KiB rather than pages, so it does not depend on the page size.
    sqlite.pragma(`cache_size = ${-Math.round((options.cacheMiB ?? DEFAULT_SQLITE_CACHE_MIB) * 1024)}`);
    // synchronous stays at SQLite's default (FULL): a committed challenge use or
    // issued certificate must survive a power loss.
  } catch (e) {
    sqlite.close();
    throw e;
  }
  const statements = new LruCache<string, BetterSqlite3.Statement>(STATEMENT_CACHE_ENTRIES);
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite, statements) }) });
  // Prepared queries run on the connection without Kysely's executor (kysely/prepared.ts).
  executeDirectly(db, { prepare: (sql) => statements.getOrSet(sql, () => sqlite.prepare(sql)), inTransaction: () => sqlite.inTransaction });
  const storage = new KyselyStorage(db, { dialect: 'sqlite' });
  try {
    await storage.migrate();
  } catch (e) {
    await storage.close();
    throw e;
  }
  return storage;
}
