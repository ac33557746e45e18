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
