import { CompiledQuery, type Compilable, type Kysely, type QueryResult } from 'kysely';
import type { Database } from '../schema.js';
import type { Db } from './support.js';

// Precompiled hot queries (issue 13). Kysely builds an operation tree and
// compiles it to SQL on every call (about a third of the SQLite + Kysely time
// of an enrollment). A PreparedQuery is written once, as an ordinary typed
// Kysely builder over named parameters; it is compiled the first time it runs
// against a Kysely instance (so once per store instance, in that instance's
// dialect: `?` for SQLite, `$1` for PostgreSQL) and every later call only
// binds new values to the kept SQL. The SQL text is then the same string
// object on every call, which also makes the SQLite statement cache's lookup
// cheap (sqlite.ts).
//
//   const DEVICE = prepared('device by id', (db, p: { id: string }) =>
//     db.selectFrom('devices').selectAll().where('id', '=', p.id));
//   const row = await DEVICE.first(this.db, { id });              // typed row | undefined
//   await INSERT.execute(this.db, row, trx);                       // inside a transaction of this.db
//
// How: the builder is called once with a marker value for each parameter it
// reads from `p`, and the compiled query's parameter list says where each
// marker went. The rules, checked when it compiles (the error names the query):
// - a parameter must reach the SQL as one or more bound values exactly as
//   given (a value, a where operand, a limit): the builder must not look at,
//   transform or branch on it (an `in` list, `?? null`, a column left out
//   when undefined cannot be prepared: build those per call);
// - values the builder writes itself (a constant status, a limit of 1) stay
//   bound as they were compiled;
// - a call gives every parameter, null rather than undefined (SQLite cannot
//   bind undefined): a missing one is a TypeError, not a query.
//
// On SQLite a prepared query skips Kysely's executor too (issue 13: its
// connection provider, the driver's mutex and the promise chain between them
// were about 3% of an enrollment): sqlite.ts registers the better-sqlite3
// connection (executeDirectly) and the query runs on its statement at once,
// as Kysely's own SQLite connection would (all() for a reader, run() for a
// write). Transactions stay correct because SQLite has one connection: a
// query given a transaction (`via`) runs inside it, since the transaction
// holds that connection; a query from outside a transaction runs directly only
// while no transaction is open on the connection, and otherwise takes Kysely's
// way, which waits for the transaction to end (the driver's mutex), exactly as
// before. PostgreSQL (a pool) keeps Kysely's executor.

/** The SQL of one query in one dialect, and where each parameter goes in its bound values. */
interface Template {
  sql: string;
  /** The compiled parameter list: constants as compiled, markers replaced per call. */
  constants: readonly unknown[];
  /** For each bound value, the parameter name it takes, or null for a constant. */
  slots: readonly (string | null)[];
  /** The connection to run on without Kysely (SQLite), and its statement once prepared. */
  direct: DirectExecutor | null;
  statement: DirectStatement | null;
}

type Params = object;

/** A statement of the connection, as better-sqlite3 has it. */
export interface DirectStatement {
  readonly reader: boolean;
  all(params: readonly unknown[]): unknown[];
  run(params: readonly unknown[]): { changes: number; lastInsertRowid: number | bigint };
}

/** A store's single connection, when prepared queries may run on it without Kysely (SQLite). */
export interface DirectExecutor {
  /** The kept statement of `sql` (prepared once). */
  prepare(sql: string): DirectStatement;
  /** A transaction is open on the connection: a query from outside it must wait for it (Kysely's way). */
  inTransaction(): boolean;
}

const directExecutors = new WeakMap<Kysely<Database>, DirectExecutor>();

/** Prepared queries on `db` run on `executor` from now on (sqlite.ts; see the file comment). */
export function executeDirectly(db: Kysely<Database>, executor: DirectExecutor): void {
  directExecutors.set(db, executor);
}

/** What Kysely's SQLite connection answers for the same statement. */
function runStatement<O>(statement: DirectStatement, values: readonly unknown[]): QueryResult<O> {
  if (statement.reader) return { rows: statement.all(values) as O[] };
  const { changes, lastInsertRowid } = statement.run(values);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}

const MARKER = '\u0000mdmgw-prepared:';

export class PreparedQuery<P extends Params, O> {
  /** One template per Kysely instance: the instance fixes the dialect (a store has one). */
  readonly #templates = new WeakMap<Kysely<Database>, Template>();

  constructor(
    /** Names the query in errors. */
    readonly name: string,
    private readonly build: (db: Kysely<Database>, p: P) => Compilable<O>,
  ) {}

  /**
   * Runs the query with `params` and returns its rows (a write's RETURNING
   * rows; none without). `db`: the store's Kysely instance, which the SQL is
   * compiled for; `via`: where to run it instead, a transaction of `db`.
   */
  async execute(db: Kysely<Database>, params: P, via: Db = db): Promise<O[]> {
    return (await this.run(db, params, via)).rows;
  }

  /** The first row, or undefined (executeTakeFirst). */
  async first(db: Kysely<Database>, params: P, via: Db = db): Promise<O | undefined> {
    return (await this.run(db, params, via)).rows[0];
  }

  /** The driver's whole answer: rows, and numAffectedRows for a write. */
  run(db: Kysely<Database>, params: P, via: Db = db): Promise<QueryResult<O>> {
    const t = this.template(db);
    const values = new Array<unknown>(t.slots.length);
    for (let i = 0; i < t.slots.length; i++) {
      const name = t.slots[i] ?? null;
      if (name === null) {
        values[i] = t.constants[i];
        continue;
      }
      const v = (params as Record<string, unknown>)[name];
      if (v === undefined) throw new TypeError(`prepared query ${this.name}: parameter ${name} is missing (give null for SQL NULL)`);
      // Compiled from one marker, an `in` list is one placeholder: a list must be built per call.
      if (Array.isArray(v)) throw new TypeError(`prepared query ${this.name}: parameter ${name} is a list, which cannot be prepared (build the query per call)`);
      values[i] = v;
    }
    const direct = t.direct;
    if (direct && (via.isTransaction || !direct.inTransaction())) {
      try {
        return Promise.resolve(runStatement<O>((t.statement ??= direct.prepare(t.sql)), values));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return via.executeQuery<O>(CompiledQuery.raw(t.sql, values));
  }

  /** The SQL this query runs as on `db` (tests, query plans). */
  sql(db: Kysely<Database>): string {
    return this.template(db).sql;
  }

  private template(db: Kysely<Database>): Template {
    let t = this.#templates.get(db);
    if (!t) {
      t = this.compile(db);
      this.#templates.set(db, t);
    }
    return t;
  }

  private compile(db: Kysely<Database>): Template {
    const read = new Set<string>();
    const markers = new Proxy({} as P, {
      get(_target, key) {
        if (typeof key !== 'string') return undefined;
        read.add(key);
        return `${MARKER}${key}`;
      },
    });
    const compiled = this.build(db, markers).compile();
    const bound = new Set<string>();
    const slots = compiled.parameters.map((v) => {
      if (typeof v !== 'string' || !v.startsWith(MARKER)) return null;
      const name = v.slice(MARKER.length);
      bound.add(name);
      return name;
    });
    // A marker in the SQL text, inside a constant, or read but never bound: the builder did not pass it through as given.
    const altered = compiled.sql.includes(MARKER) || compiled.parameters.some((v) => typeof v === 'string' && v.includes(MARKER) && !v.startsWith(MARKER));
    const unbound = [...read].filter((k) => !bound.has(k));
    if (altered || unbound.length > 0) {
      throw new TypeError(`prepared query ${this.name}: every parameter must reach the SQL as a bound value, unchanged${unbound.length ? ` (not bound: ${unbound.join(', ')})` : ''}`);
    }
    return { sql: compiled.sql, constants: compiled.parameters, slots, direct: directExecutors.get(db) ?? null, statement: null };
  }
}

/**
 * The row `p` with exactly `columns`, each read from the parameters: an
 * insert of a whole row (`.values(columnsOf(p, COLUMNS))`), each column a
 * parameter. A column missing from a call's row is refused as a missing
 * parameter (a row type's optional column must be given, null when unset).
 */
export function columnsOf<T extends object>(p: T, columns: readonly (keyof T & string)[]): T {
  const row: Partial<T> = {};
  for (const c of columns) row[c] = p[c];
  return row as T;
}

/** A query compiled once per Kysely instance and run with new values (see above). */
export function prepared<P extends Params, O>(name: string, build: (db: Kysely<Database>, p: P) => Compilable<O>): PreparedQuery<P, O> {
  return new PreparedQuery(name, build);
}
