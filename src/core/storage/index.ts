import { isAbsolute, join, resolve } from 'node:path';
import { openSqliteStorage, type SqliteOptions } from './sqlite.js';
import { openPostgresStorage } from './postgres.js';
import { maskDatabaseUrl } from './db-errors.js';
import type { Storage } from './storage.js';

export * from './storage.js';
export { openSqliteStorage, type SqliteOptions } from './sqlite.js';
export { openPostgresStorage } from './postgres.js';
export { isDatabaseUnavailable, maskDatabaseUrl } from './db-errors.js';
export { KyselyStorage, type KyselyStorageOptions, type KyselyStores } from './kysely-storage.js';
export type { SqlDialect } from './migrations.js';

/** Where the database lives, decoded from MDMGW_DATABASE_URL. */
export type DatabaseTarget = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

const EXAMPLES = 'sqlite:///absolute/path/mdmgw.sqlite, file:///absolute/path/mdmgw.sqlite or postgres://user:password@host:5432/database';

/**
 * Decodes MDMGW_DATABASE_URL. Unset or blank: `<dataDir>/mdmgw.sqlite`.
 * `sqlite:///abs/path`, `sqlite:/abs/path`, `sqlite://localhost/abs/path` and the same
 * with `file:` name an SQLite file (percent-escapes decoded; relative paths refused);
 * `sqlite::memory:` is an in-memory database. `postgres://` and `postgresql://` name a
 * PostgreSQL database (passed to `pg` as they are: user, password, host, port,
 * database, and libpq query parameters such as `sslmode`).
 * Error messages name a postgres URL only with its password masked.
 */
export function resolveDatabaseUrl(databaseUrl: string | undefined, dataDir: string): DatabaseTarget {
  const url = databaseUrl?.trim();
  if (!url) return { kind: 'sqlite', file: join(resolve(dataDir), 'mdmgw.sqlite') };

  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    throw new Error(`MDMGW_DATABASE_URL must be a URL such as ${EXAMPLES}`);
  }
  if (scheme === 'postgres' || scheme === 'postgresql') return { kind: 'postgres', url: postgresUrl(url) };
  if (scheme !== 'sqlite' && scheme !== 'file') {
    throw new Error(`MDMGW_DATABASE_URL scheme "${scheme}:" is not supported; use ${EXAMPLES} (or leave it unset)`);
  }

  const rest = url.slice(scheme.length + 1);
  if (scheme === 'sqlite' && rest === ':memory:') return { kind: 'sqlite', file: ':memory:' };
  if (/[?#]/.test(rest)) {
    throw new Error(`MDMGW_DATABASE_URL: query strings and fragments are not supported in ${scheme}: URLs`);
  }
  let path = rest;
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const host = slash === -1 ? rest.slice(2) : rest.slice(2, slash);
    if (host !== '' && host.toLowerCase() !== 'localhost') {
      throw new Error(`MDMGW_DATABASE_URL: a ${scheme}: URL names a local file and takes no host; use ${EXAMPLES}`);
    }
    path = slash === -1 ? '' : rest.slice(slash);
  }
  try {
    path = decodeURIComponent(path);
  } catch {
    throw new Error(`MDMGW_DATABASE_URL: the ${scheme}: path has a malformed percent-escape`);
  }
  if (path === '' || path === '/' || !isAbsolute(path) || path.endsWith('/')) {
    throw new Error(`MDMGW_DATABASE_URL: a ${scheme}: URL must name an absolute file path, e.g. ${EXAMPLES}`);
  }
  return { kind: 'sqlite', file: path };
}

/** A postgres: URL that names a host and a database; errors name it with the password masked. */
function postgresUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error('MDMGW_DATABASE_URL: not a valid postgres:// URL; use postgres://user:password@host:5432/database');
  }
  const masked = maskDatabaseUrl(url);
  if (u.hostname === '' && !u.searchParams.has('host')) throw new Error(`MDMGW_DATABASE_URL ${masked} names no host`);
  if (u.pathname.length <= 1) throw new Error(`MDMGW_DATABASE_URL ${masked} names no database (postgres://user:password@host:5432/database)`);
  return url;
}

/** The database's SQLite file, or null when it is not an SQLite file (PostgreSQL, or in memory). */
export function sqliteFileOf(target: DatabaseTarget): string | null {
  return target.kind === 'sqlite' && target.file !== ':memory:' ? target.file : null;
}

/** Opens and migrates the configured storage backend (`sqlite` options apply to an SQLite file only). */
export async function openStorage(databaseUrl: string | undefined, dataDir: string, sqlite: SqliteOptions = {}): Promise<Storage> {
  const target = resolveDatabaseUrl(databaseUrl, dataDir);
  return target.kind === 'postgres' ? openPostgresStorage(target.url) : openSqliteStorage(target.file, sqlite);
}
