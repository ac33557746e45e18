import { isAbsolute, join, resolve } from 'node:path';
import { openSqliteStorage } from './sqlite.js';
import type { Storage } from './storage.js';

export * from './storage.js';
export { openSqliteStorage } from './sqlite.js';
export { KyselyStorage, type KyselyStorageOptions, type KyselyStores } from './kysely-storage.js';
export type { SqlDialect } from './migrations.js';

/** Where the database lives, decoded from MDMGW_DATABASE_URL. */
export type DatabaseTarget = { kind: 'sqlite'; file: string };

const EXAMPLES = 'sqlite:///absolute/path/mdmgw.sqlite or file:///absolute/path/mdmgw.sqlite';

/**
 * Decodes MDMGW_DATABASE_URL. Unset or blank: `<dataDir>/mdmgw.sqlite`.
 * `sqlite:///abs/path`, `sqlite:/abs/path`, `sqlite://localhost/abs/path` and the same
 * with `file:` name an SQLite file (percent-escapes decoded; relative paths refused);
 * `sqlite::memory:` is an in-memory database. PostgreSQL URLs are refused in this build.
 * Error messages never repeat the URL, which may carry a password.
 */
export function resolveDatabaseUrl(databaseUrl: string | undefined, dataDir: string): DatabaseTarget {
  const url = databaseUrl?.trim();
  if (!url) return { kind: 'sqlite', file: join(resolve(dataDir), 'mdmgw.sqlite') };

  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    throw new Error(`MDMGW_DATABASE_URL must be a URL such as ${EXAMPLES}`);
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    throw new Error('PostgreSQL support is not in this build yet (MDMGW_DATABASE_URL=postgres://...)');
  }
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

/** Opens and migrates the configured storage backend. */
export async function openStorage(databaseUrl: string | undefined, dataDir: string): Promise<Storage> {
  const target = resolveDatabaseUrl(databaseUrl, dataDir);
  return openSqliteStorage(target.file);
}
