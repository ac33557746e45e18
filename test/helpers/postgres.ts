import { randomBytes } from 'node:crypto';
import pg from 'pg';

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
 * restarts its sequences: a fresh store without the cost of CREATE DATABASE per test.
 */
export async function truncateAllTables(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `select quote_ident(tablename) as name from pg_tables where schemaname = current_schema() and tablename not like 'kysely\\_%'`,
    );
    if (rows.length > 0) await client.query(`truncate ${rows.map((r) => r.name).join(', ')} restart identity cascade`);
  } finally {
    await client.end();
  }
}
