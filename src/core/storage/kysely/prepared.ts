import { CompiledQuery, type Compilable, type Kysely, type QueryResult } from 'kysely';
import type { Database } from '../schema.js';
import type { Db } from './support.js';

// Precompiled hot queries (issue 13). Kysely builds an operation tree and
// compiles it to SQL on every call: about a third of the SQLite + Kysely time
// of an enrollment. A PreparedQuery is written once, as an ordinary typed
// Kysely builder whose varying values are its parameters; it is compiled the
// first time it runs against a Kysely instance (so once per store instance,
// in that instance's dialect: `?` for SQLite, `$1` for PostgreSQL) and every
// later call only binds new values to the kept SQL.
//
//   const byId = prepared((db, id: string) => db.selectFrom('devices').selectAll().where('id', '=', id));
//   const rows = await byId.execute(this.db, [deviceId]);            // typed rows
//   const rows = await byId.execute(this.db, [deviceId], trx);       // inside a transaction
//
// How: the builder is called once with a marker value per parameter, and
// the compiled query's parameter list tells where each marker went. Limits,
// checked when it compiles (an error names the query):
// - every parameter must reach the SQL as a bound value (a value, a where
//   operand, a limit), exactly as given: a parameter the builder transforms,
//   drops or inspects (an `in` list, a branch on its value, a column left out
//   when it is undefined) cannot be prepared; build those per call;
// - values the builder fixes itself (a constant status, a limit of 1) stay
//   as they were compiled;
// - a call passes null, never undefined (which SQLite refuses to bind).

/** The SQL of one query in one dialect, and where each parameter goes in its bound values. */
interface Template {
  sql: string;
  /** The compiled parameter list: constants as compiled, markers replaced per call. */
  constants: readonly unknown[];
  /** For each bound value, the index of the call's argument it takes, or -1 for a constant. */
  slots: readonly number[];
}

const MARKER = '\u0000mdmgw-prepared-parameter:';

export class PreparedQuery<A extends readonly unknown[], O> {
  /** One template per Kysely instance: the instance fixes the dialect (and a store has one). */
  readonly #templates = new WeakMap<Kysely<Database>, Template>();

  constructor(
    /** A name for errors. */
    readonly name: string,
    private readonly build: (db: Kysely<Database>, ...args: A) => Compilable<O>,
    private readonly arity: number,
  ) {}

  /**
   * Runs the query with `args` and returns its rows (the RETURNING rows of a
   * write; none without). `db` is the store's Kysely instance (the compiled
   * SQL is kept per instance); `via` runs it elsewhere, e.g. in a transaction
   * of that instance.
   */
  async execute(db: Kysely<Database>, args: A, via: Db = db): Promise<O[]> {
    return (await this.run(db, args, via)).rows;
  }

  /** The driver's whole answer: rows, and numAffectedRows for a write. */
  run(db: Kysely<Database>, args: A, via: Db = db): Promise<QueryResult<O>> {
    const t = this.template(db);
    const params = new Array<unknown>(t.slots.length);
    for (let i = 0; i < t.slots.length; i++) {
      const slot = t.slots[i]!;
      params[i] = slot < 0 ? t.constants[i] : args[slot];
    }
    return via.executeQuery<O>(CompiledQuery.raw(t.sql, params));
  }

  /** The first row, or undefined: executeTakeFirst. */
  async first(db: Kysely<Database>, args: A, via: Db = db): Promise<O | undefined> {
    return (await this.execute(db, args, via))[0];
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
    const markers = Array.from({ length: this.arity }, (_, i) => `${MARKER}${i}`);
    const compiled = this.build(db, ...(markers as unknown as A)).compile();
    const seen = new Set<number>();
    const slots = compiled.parameters.map((p) => {
      if (typeof p !== 'string' || !p.startsWith(MARKER)) return -1;
      const i = Number(p.slice(MARKER.length));
      seen.add(i);
      return i;
    });
    // A marker inside the SQL text or a parameter that never became a bound value: the builder did not pass it through as given.
    if (compiled.sql.includes(MARKER) || seen.size !== this.arity) {
      throw new TypeError(`prepared query ${this.name}: every parameter must reach the SQL as one bound value, unchanged`);
    }
    return { sql: compiled.sql, constants: compiled.parameters, slots };
  }
}

/**
 * A query compiled once per Kysely instance (see above). The builder's
 * parameters after `db` are the values bound per call; their count is
 * taken from the builder's declared parameters.
 */
export function prepared<A extends readonly unknown[], O>(name: string, build: (db: Kysely<Database>, ...args: A) => Compilable<O>): PreparedQuery<A, O> {
  return new PreparedQuery(name, build, build.length - 1);
}
