// Classifies driver errors the same way on SQLite and PostgreSQL, so storage
// code can turn them into StorageConflictError without knowing the backend.

function errorCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const code = (e as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Unique or primary-key violation (better-sqlite3 extended codes, PostgreSQL SQLSTATE 23505). */
export function isUniqueViolation(e: unknown): boolean {
  const code = errorCode(e);
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

/** Foreign-key violation (better-sqlite3, PostgreSQL SQLSTATE 23503). */
export function isForeignKeyViolation(e: unknown): boolean {
  const code = errorCode(e);
  return code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || code === '23503';
}

// ---- the database is unreachable (PostgreSQL down, restarting, network gone) ----

/** Node socket errors that mean "no connection to the database server". */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);

/** pg's own messages for a connection that broke or could not be had in time (they carry no code). */
const PG_CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
];

/**
 * The database cannot be reached right now: a retry later may succeed, so
 * callers answer 503 with Retry-After rather than 500. SQLSTATE class 08
 * (connection exception), 57P01-57P03 (server shutting down, crashed, starting
 * up), 53300 (too many connections); socket errors; pg's connection-loss and
 * pool-timeout errors; SQLITE_BUSY (another process held the write lock past
 * busy_timeout).
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    const code = errorCode(cur);
    if (code !== undefined) {
      if (NETWORK_CODES.has(code) || code.startsWith('08') || ['57P01', '57P02', '57P03', '53300', 'SQLITE_BUSY'].includes(code)) return true;
    }
    if (cur instanceof AggregateError && cur.errors.some((x) => isDatabaseUnavailable(x))) return true;
    const message = cur instanceof Error ? cur.message : '';
    if (PG_CONNECTION_MESSAGES.some((m) => message.includes(m))) return true;
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return false;
}

/**
 * A database URL fit for a log line or an error message: the password replaced
 * by ****, query parameters dropped (they may carry `password=` or key paths).
 */
export function maskDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '****';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
    return scheme ? `${scheme}://(unparsable URL)` : '(unparsable URL)';
  }
}

/** One line on why a database operation failed: the driver's message and its code. */
export function describeDatabaseError(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  if (cur instanceof AggregateError && cur.errors.length > 0) cur = cur.errors[0];
  const message = cur instanceof Error ? cur.message.trim() : String(cur);
  const code = errorCode(cur) ?? errorCode(e);
  if (message !== '') parts.push(message);
  if (code !== undefined && !message.includes(code)) parts.push(`(${code})`);
  return parts.join(' ') || 'unknown error';
}
