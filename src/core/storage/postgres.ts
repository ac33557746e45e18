import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { KyselyStorage } from './kysely-storage.js';
import type { Database } from './schema.js';
import type { Storage } from './storage.js';
import { describeDatabaseError, maskDatabaseUrl } from './db-errors.js';

// PostgreSQL backend: `pg`'s Pool behind Kysely's PostgresDialect, running the same
// KyselyStorage and migrations as SQLite.
//
// - int8 (bigint columns, count(*)) comes back from `pg` as a string; this pool's
//   own type parsers turn it into a number (the process-wide pg.types stay as
//   they are, so another pg user in the process is not affected).
// - Migrations: Kysely's PostgreSQL migrator runs the whole pass in one transaction
//   under pg_advisory_lock, so several instances starting together migrate once.
// - A database that goes away: the pool drops broken connections and opens new ones
//   on the next query, so the gateway recovers by itself; queries meanwhile fail
//   fast (connectionTimeoutMillis) with a connection error that db-errors.ts
//   classifies and the HTTP layer answers with 503 + Retry-After.

const INT8_OID = 20;

/** Tunables of the pool; the defaults suit one gateway instance. */
export interface PostgresOptions {
  /** Connections per instance (pg's default is 10). */
  maxConnections?: number;
  /** How long a query waits for a connection before failing (ms). */
  connectionTimeoutMs?: number;
}

export const POSTGRES_DEFAULTS = { maxConnections: 10, connectionTimeoutMs: 5_000 } as const;

function parseInt8(text: string): number | string {
  const n = Number(text);
  // Out of the safe range stays text: the storage layer's toNumber refuses it loudly.
  return Number.isSafeInteger(n) ? n : text;
}

const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return parseInt8;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** A pg Pool for `url` whose idle-connection errors are swallowed (not a process crash). */
export function postgresPool(url: string, options: PostgresOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? POSTGRES_DEFAULTS.maxConnections,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? POSTGRES_DEFAULTS.connectionTimeoutMs,
    types: typeParsers,
    application_name: 'mdmgw',
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, that
  // would end the process. The pool discards the client; the next query reconnects.
  pool.on('error', () => {});
  return pool;
}

/**
 * Connects to PostgreSQL, migrates, and returns the storage. A database that cannot
 * be reached or refuses the login fails here with one message naming the URL
 * (password masked) and the cause.
 */
export async function openPostgresStorage(url: string, options: PostgresOptions = {}): Promise<Storage> {
  const pool = postgresPool(url, options);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const storage = new KyselyStorage(db, { dialect: 'postgres' });
  try {
    // One round trip first, so a wrong URL is reported as such and not as a migration failure.
    const client = await pool.connect();
    client.release();
    await storage.migrate();
  } catch (e) {
    await storage.close().catch(() => {});
    throw new Error(`cannot open the PostgreSQL database ${maskDatabaseUrl(url)}: ${describeDatabaseError(e)}`, { cause: e });
  }
  return storage;
}
