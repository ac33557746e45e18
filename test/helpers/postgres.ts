import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { dependencyOrder } from '../../src/core/storage/db-copy.js';

// Fresh PostgreSQL databases for tests, on the cluster MDMGW_TEST_PG_URL names
// (a superuser URL; `.ci/pg-cluster.sh start DIR` prints one). Each call creates
// a database with a random name, so test files and runs never see each other's
// rows; drop() (or dropAll()) removes it, closing any connection left open.
//
// Without MDMGW_TEST_PG_URL the PostgreSQL tests skip: `pgSkipReason` says why in one line.

export const TEST_PG_URL = process.env.MDMGW_TEST_PG_URL?.trim() || undefined;

/** Null when PostgreSQL tests can run, else the one-line reason they are skipped. */
export function pgSkipReason(): string | null {
  return TEST_PG_URL ? null : 'not checked (MDMGW_TEST_PG_URL unset): PostgreSQL tests need a cluster; start one with `.ci/pg-cluster.sh start DIR` and export the URL it prints';
}

export interface TestDatabase {
  name: string;
  /** The URL of the new database (same credentials as MDMGW_TEST_PG_URL). */
  url: string;
  drop(): Promise<void>;
}

function clusterUrl(): string {
  if (!TEST_PG_URL) throw new Error(pgSkipReason()!);
  return TEST_PG_URL;
}

async function asAdmin<T>(body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: clusterUrl() });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

/** The cluster's URL with another database name. */
export function urlForDatabase(name: string): string {
  const u = new URL(clusterUrl());
  u.pathname = `/${name}`;
  return u.toString();
}

const created = new Set<string>();

/** Creates an empty database with a random name; `template` clones another one (fast: a file copy). */
export async function freshPostgresDatabase(prefix = 'mdmgw_test', template?: string): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await asAdmin((c) => c.query(`create database "${name}"${template ? ` template "${template}"` : ''}`));
  created.add(name);
  return { name, url: urlForDatabase(name), drop: () => dropPostgresDatabase(name) };
}

export async function dropPostgresDatabase(name: string): Promise<void> {
  created.delete(name);
  await asAdmin((c) => c.query(`drop database if exists "${name}" with (force)`));
}

/** Drops every database this process created and has not dropped yet (an afterAll). */
export async function dropAllPostgresDatabases(): Promise<void> {
  for (const name of [...created]) await dropPostgresDatabase(name);
}

/**
 * Empties every table of a migrated database (the migration records stay), and
 * restarts its identity sequences: a fresh store without the cost of CREATE
 * DATABASE per test. DELETE children before parents in one round trip: on tiny
 * tables it is several times faster than TRUNCATE (which makes new files).
 */
export async function truncateAllTables(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    let script = emptyingScripts.get(url);
    if (script === undefined) {
      const { rows: tables } = await client.query<{ name: string }>(
        `select tablename as name from pg_tables where schemaname = current_schema() and tablename not like 'kysely\\_%'`,
      );
      const { rows: fks } = await client.query<{ child: string; parent: string }>(
        `select t.relname as child, p.relname as parent from pg_constraint c join pg_class t on t.oid = c.conrelid join pg_class p on p.oid = c.confrelid
         join pg_namespace n on n.oid = t.relnamespace where c.contype = 'f' and n.nspname = current_schema()`,
      );
      const parents = new Map<string, string[]>();
      for (const { child, parent } of fks) parents.set(child, [...(parents.get(child) ?? []), parent]);
      const order = dependencyOrder(tables.map((t) => t.name).sort(), parents).reverse();
      const { rows: identities } = await client.query<{ t: string; c: string }>(
        `select table_name as t, column_name as c from information_schema.columns where table_schema = current_schema() and is_identity = 'YES'`,
      );
      script = [
        ...order.map((t) => `delete from "${t}";`),
        ...identities.map(({ t, c }) => `select setval(pg_get_serial_sequence('"${t}"', '${c}'), 1, false);`),
      ].join('\n');
      emptyingScripts.set(url, script);
    }
    await client.query(script);
  } finally {
    await client.end();
  }
}

const emptyingScripts = new Map<string, string>();
