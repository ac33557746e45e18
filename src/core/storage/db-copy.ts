import { existsSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type { SqlDialect } from './migrations.js';
import { maskDatabaseUrl } from './db-errors.js';
import { postgresPool } from './postgres.js';
import type { DatabaseTarget } from './index.js';

// `mdmgw db copy`: every row of one database into another of the other kind (or
// the same), e.g. SQLite to PostgreSQL when a single gateway becomes several.
//
// Both sides must already have the same migrations (run `mdmgw db migrate` on
// each first): the copy moves rows, never schema. The target must be empty.
// Tables go parent before child (foreign keys read from the database itself, so
// tables added by later migrations need no change here), in pages ordered by
// primary key, inside ONE transaction on the target: a failure leaves the
// target as empty as it was. The source is read in one snapshot (a read
// transaction). Row counts are compared per table before the commit.

type AnyDb = Kysely<any>;

export class DatabaseCopyError extends Error {
  override name = 'DatabaseCopyError';
}

export interface TableCount {
  table: string;
  rows: number;
}

/** Rows per INSERT: below SQLite's and PostgreSQL's bound-parameter limits for any of our tables. */
const MAX_PARAMETERS_PER_INSERT = 8_000;
/** Rows read from the source per query. */
const READ_PAGE = 2_000;

interface Side {
  db: AnyDb;
  dialect: SqlDialect;
  label: string;
}

function open(target: DatabaseTarget, label: string, url: string): Side {
  if (target.kind === 'postgres') {
    return { db: new Kysely<any>({ dialect: new PostgresDialect({ pool: postgresPool(target.url, { maxConnections: 2 }) }) }), dialect: 'postgres', label };
  }
  if (target.file === ':memory:') throw new DatabaseCopyError(`${label} ${url}: an in-memory database cannot be copied from or to`);
  if (!existsSync(target.file)) throw new DatabaseCopyError(`${label} ${target.file} does not exist: create and migrate it first (mdmgw db migrate --database-url ${url})`);
  const file = new BetterSqlite3(target.file, { fileMustExist: true });
  file.pragma('foreign_keys = ON');
  file.pragma('busy_timeout = 5000');
  return { db: new Kysely<any>({ dialect: new SqliteDialect({ database: file }) }), dialect: 'sqlite', label };
}

async function executedMigrations(side: Side): Promise<string[]> {
  const tables = await userTables(side, true);
  if (!tables.includes('kysely_migration')) return [];
  const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(side.db);
  return rows.map((r) => r.name);
}

/** The schema's tables; Kysely's own (migration records and lock) only when asked. */
async function userTables(side: Side, withKysely = false): Promise<string[]> {
  const { rows } =
    side.dialect === 'sqlite'
      ? await sql<{ name: string }>`select name from sqlite_master where type = 'table' order by name`.execute(side.db)
      : await sql<{ name: string }>`select tablename as name from pg_tables where schemaname = current_schema() order by tablename`.execute(side.db);
  return rows.map((r) => r.name).filter((n) => !n.startsWith('sqlite_') && (withKysely || !n.startsWith('kysely_')));
}

async function parentsOf(side: Side, table: string): Promise<string[]> {
  if (side.dialect === 'sqlite') {
    const { rows } = await sql<{ table: string }>`select "table" from pragma_foreign_key_list(${table})`.execute(side.db);
    return rows.map((r) => r.table);
  }
  const { rows } = await sql<{ parent: string }>`
    select p.relname as parent from pg_constraint c
    join pg_class t on t.oid = c.conrelid join pg_class p on p.oid = c.confrelid
    join pg_namespace n on n.oid = t.relnamespace
    where c.contype = 'f' and n.nspname = current_schema() and t.relname = ${table}`.execute(side.db);
  return rows.map((r) => r.parent);
}

/** The columns that order a table's pages: its primary key, or every column when it has none (group_members). */
async function pageOrderOf(side: Side, table: string): Promise<string[]> {
  const key = await primaryKeyOf(side, table);
  if (key.length > 0) return key;
  const { rows } =
    side.dialect === 'sqlite'
      ? await sql<{ name: string }>`select name from pragma_table_info(${table}) order by cid`.execute(side.db)
      : await sql<{ name: string }>`select column_name as name from information_schema.columns where table_schema = current_schema() and table_name = ${table} order by ordinal_position`.execute(side.db);
  return rows.map((r) => r.name);
}

async function primaryKeyOf(side: Side, table: string): Promise<string[]> {
  if (side.dialect === 'sqlite') {
    const { rows } = await sql<{ name: string; pk: number }>`select name, pk from pragma_table_info(${table}) where pk > 0 order by pk`.execute(side.db);
    return rows.map((r) => r.name);
  }
  const { rows } = await sql<{ name: string }>`
    select a.attname as name from pg_index i
    join pg_class t on t.oid = i.indrelid join pg_namespace n on n.oid = t.relnamespace
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
    where i.indisprimary and n.nspname = current_schema() and t.relname = ${table}
    order by array_position(i.indkey, a.attnum)`.execute(side.db);
  return rows.map((r) => r.name);
}

/** Parents before children (Kahn's algorithm); ties alphabetical, so the order is stable. */
export function dependencyOrder(tables: string[], parents: Map<string, string[]>): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  while (order.length < tables.length) {
    const next = tables.find((t) => !done.has(t) && (parents.get(t) ?? []).every((p) => p === t || done.has(p) || !tables.includes(p)));
    if (next === undefined) throw new DatabaseCopyError(`foreign keys form a cycle among ${tables.filter((t) => !done.has(t)).join(', ')}`);
    order.push(next);
    done.add(next);
  }
  return order;
}

async function countRows(db: AnyDb, table: string): Promise<number> {
  const row = await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** After explicit ids went into an identity column, its sequence continues after the largest. */
async function resetIdentitySequences(trx: AnyDb, table: string): Promise<void> {
  const { rows } = await sql<{ column_name: string }>`
    select column_name from information_schema.columns
    where table_schema = current_schema() and table_name = ${table} and is_identity = 'YES'`.execute(trx);
  for (const { column_name: column } of rows) {
    await sql`select setval(pg_get_serial_sequence(${table}, ${column}), coalesce((select max(${sql.ref(column)}) from ${sql.table(table)}), 0) + 1, false)`.execute(trx);
  }
}

export interface CopyOptions {
  /** Called after each table is copied (progress). */
  onTable?: (count: TableCount) => void;
}

/**
 * Copies every row from `from` to `to` (both URLs as MDMGW_DATABASE_URL takes
 * them, already resolved). Refuses when their migrations differ or the target
 * holds any row. Returns the row count per table, in copy order.
 */
export async function copyDatabase(
  from: { target: DatabaseTarget; url: string },
  to: { target: DatabaseTarget; url: string },
  options: CopyOptions = {},
): Promise<TableCount[]> {
  const source = open(from.target, 'source', maskDatabaseUrl(from.url));
  let target: Side;
  try {
    target = open(to.target, 'target', maskDatabaseUrl(to.url));
  } catch (e) {
    await source.db.destroy();
    throw e;
  }
  try {
    const [sourceMigrations, targetMigrations] = [await executedMigrations(source), await executedMigrations(target)];
    if (sourceMigrations.length === 0) throw new DatabaseCopyError(`the source ${maskDatabaseUrl(from.url)} has no gateway schema (no migrations ran on it)`);
    if (sourceMigrations.join() !== targetMigrations.join()) {
      const missing = (a: string[], b: string[]) => a.filter((m) => !b.includes(m));
      throw new DatabaseCopyError(
        `the target's migrations differ from the source's (target lacks: ${missing(sourceMigrations, targetMigrations).join(', ') || 'none'}; ` +
          `source lacks: ${missing(targetMigrations, sourceMigrations).join(', ') || 'none'}): run \`mdmgw db migrate --database-url <url>\` on both with this version, then copy`,
      );
    }
    const tables = await userTables(source);
    const targetTables = await userTables(target);
    const absent = tables.filter((t) => !targetTables.includes(t));
    if (absent.length > 0) throw new DatabaseCopyError(`the target has no table ${absent.join(', ')} although its migrations match`);
    const parents = new Map<string, string[]>();
    for (const t of tables) parents.set(t, await parentsOf(source, t));
    const order = dependencyOrder(tables, parents);
    const keys = new Map<string, string[]>();
    for (const t of tables) keys.set(t, await pageOrderOf(source, t));

    const copyAll = async (src: AnyDb): Promise<TableCount[]> =>
      target.db.transaction().execute(async (trx) => {
        for (const t of order) {
          if ((await countRows(trx, t)) > 0) {
            throw new DatabaseCopyError(`the target is not empty (table ${t} has rows): copy only into a freshly migrated database`);
          }
        }
        const counts: TableCount[] = [];
        for (const table of order) {
          const key = keys.get(table) ?? [];
          const expected = await countRows(src, table);
          for (let offset = 0; offset < expected; offset += READ_PAGE) {
            let q = src.selectFrom(table).selectAll();
            for (const k of key) q = q.orderBy(k);
            const rows = await q.limit(READ_PAGE).offset(offset).execute();
            if (rows.length === 0) break;
            const perInsert = Math.max(1, Math.floor(MAX_PARAMETERS_PER_INSERT / Object.keys(rows[0]!).length));
            for (let i = 0; i < rows.length; i += perInsert) await trx.insertInto(table).values(rows.slice(i, i + perInsert)).execute();
          }
          if (target.dialect === 'postgres') await resetIdentitySequences(trx, table);
          const copied = await countRows(trx, table);
          if (copied !== expected) throw new DatabaseCopyError(`table ${table}: ${expected} rows in the source, ${copied} in the target; nothing was copied`);
          counts.push({ table, rows: copied });
          options.onTable?.({ table, rows: copied });
        }
        return counts;
      });

    // The source in one snapshot, so the counts and the rows agree even if a gateway still writes.
    return source.dialect === 'postgres'
      ? await source.db.transaction().setIsolationLevel('repeatable read').execute(copyAll)
      : await source.db.transaction().execute(copyAll);
  } finally {
    await source.db.destroy();
    await target.db.destroy();
  }
}
