
// Schema lifecycle and the connection: what opening and closing a backend needs.
export interface MigratingStore {
  /** Runs pending migrations; idempotent; safe to call from several instances. */
  migrate(): Promise<void>;
  /** Names of known migrations not yet applied (readiness: empty when the schema is current); rejects when the database does not answer. */
  pendingMigrations(): Promise<string[]>;
  close(): Promise<void>;
}
