import type { Kysely, Transaction } from 'kysely';
import type { Attributes } from '../../model.js';
import { truncateString } from '../../bounded.js';
import type { SqlDialect } from '../migrations.js';
import type { Database } from '../schema.js';

export { isForeignKeyViolation, isUniqueViolation } from '../db-errors.js';

// What every Kysely store shares: the database handle, the dialect, the clock,
// and the value conversions that keep SQLite and PostgreSQL answers identical
// (Buffer -> Uint8Array, int8 strings -> numbers, JSON text -> objects,
// timestamps normalised to Date#toISOString() form so text order is time order).

export interface KyselyStoreOptions {
  dialect: SqlDialect;
  /** Clock for created/updated/used timestamps; tests may inject one. */
  now?: () => Date;
}

export type Db = Kysely<Database> | Transaction<Database>;

/** The base of every per-concern store: one shared Kysely instance, one clock. */
export abstract class KyselyStore {
  readonly dialect: SqlDialect;
  readonly #now: () => Date;

  constructor(
    protected readonly db: Kysely<Database>,
    options: KyselyStoreOptions,
  ) {
    this.dialect = options.dialect;
    this.#now = options.now ?? (() => new Date());
  }

  /** Now, as stored. */
  protected stamp(): string {
    return this.#now().toISOString();
  }
}

/** Thrown inside a transaction to roll it back and hand a result to the caller. */
export class Rollback<T> {
  constructor(readonly result: T) {}
}

/** Normalises a timestamp to Date#toISOString() form so text order is time order. */
export function isoTimestamp(value: string, what: string): string {
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new RangeError(`${what} is not an ISO-8601 timestamp: ${JSON.stringify(value)}`);
  return new Date(t).toISOString();
}

export function toBuffer(bytes: Uint8Array, what: string): Buffer {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A plain Uint8Array copy (not a Buffer view into a driver-owned pool). */
export function toBytes(value: Uint8Array): Uint8Array {
  return new Uint8Array(value);
}

export function toNumber(value: number | string | bigint): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`database integer out of range: ${String(value)}`);
  return n;
}

/** An audit column (type, actor, reason code, transaction id): at most 256 characters. */
export function cut(value: string | null | undefined): string | null {
  return value === null || value === undefined ? null : truncateString(value, 256);
}

export function parseJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

export function attributesJson(attributes: Attributes | undefined): string {
  return JSON.stringify(attributes ?? {});
}
