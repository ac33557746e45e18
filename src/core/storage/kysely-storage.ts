import type { Kysely } from 'kysely';
import { migrateToLatest, pendingMigrations, type SqlDialect } from './migrations.js';
import type { Database } from './schema.js';
import type { MigratingStore, Storage } from './storage.js';
import type { DirectoryStore } from './directory-store.js';
import type { ProfileStore } from './profile-store.js';
import type { AssignmentStore } from './assignment-store.js';
import type { IssuanceStore } from './issuance-store.js';
import type { DeliveryStore } from './delivery-store.js';
import type { EnrollmentTokenStore } from './enrollment-token-store.js';
import type { CommandStore } from './command-store.js';
import type { PlatformStateStore } from './platform-state-store.js';
import type { AuditStore } from './audit-store.js';
import type { CoordinationStore } from './coordination-store.js';
import type { UpstreamRequestStore } from './upstream-request-store.js';
import type { PlanGenerationStore } from './plan-generation-store.js';
import type { KyselyStoreOptions } from './kysely/support.js';
import { KyselyDirectoryStore } from './kysely/directory.js';
import { KyselyProfileStore } from './kysely/profiles.js';
import { KyselyAssignmentStore } from './kysely/assignments.js';
import { KyselyIssuanceStore } from './kysely/issuance.js';
import { KyselyDeliveryStore } from './kysely/deliveries.js';
import { KyselyEnrollmentTokenStore } from './kysely/enrollment-tokens.js';
import { KyselyCommandStore } from './kysely/commands.js';
import { KyselyPlatformStateStore } from './kysely/platform-state.js';
import { KyselyAuditStore } from './kysely/audit.js';
import { KyselyCoordinationStore } from './kysely/coordination.js';
import { KyselyUpstreamRequestStore } from './kysely/upstream-requests.js';
import { KyselyPlanGenerationStore } from './kysely/plan-generation.js';

export { isForeignKeyViolation, isUniqueViolation } from './db-errors.js';

// The Storage implementation over Kysely: a composition of one store per
// concern (src/core/storage/kysely/), all sharing one Kysely instance, one
// dialect and one clock. Dialect-independent on purpose: only portable SQL
// (INSERT/UPDATE/DELETE ... RETURNING, ON CONFLICT DO NOTHING, plain joins),
// errors classified by both SQLite and PostgreSQL codes, and values converted
// the same way whatever the driver returns (kysely/support.ts).

export type KyselyStorageOptions = KyselyStoreOptions;

/** The per-concern stores a KyselyStorage is made of. */
export interface KyselyStores {
  directory: KyselyDirectoryStore;
  profiles: KyselyProfileStore;
  assignments: KyselyAssignmentStore;
  issuance: KyselyIssuanceStore;
  deliveries: KyselyDeliveryStore;
  enrollmentTokens: KyselyEnrollmentTokenStore;
  commands: KyselyCommandStore;
  platformState: KyselyPlatformStateStore;
  audit: KyselyAuditStore;
  coordination: KyselyCoordinationStore;
  upstreamRequests: KyselyUpstreamRequestStore;
  planGenerations: KyselyPlanGenerationStore;
}

/**
 * The store's own methods (those its class declares, not the base's helpers),
 * bound to it, as a plain object typed as the interface `T` it implements.
 */
export function boundMethods<T extends object>(store: T): T {
  const proto = Object.getPrototypeOf(store) as object;
  const out: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(proto)) {
    const value = (store as Record<string, unknown>)[name];
    if (name !== 'constructor' && typeof value === 'function') out[name] = (value as (...a: unknown[]) => unknown).bind(store);
  }
  return out as T;
}

function buildStores(db: Kysely<Database>, options: KyselyStoreOptions): KyselyStores {
  return {
    directory: new KyselyDirectoryStore(db, options),
    profiles: new KyselyProfileStore(db, options),
    assignments: new KyselyAssignmentStore(db, options),
    issuance: new KyselyIssuanceStore(db, options),
    deliveries: new KyselyDeliveryStore(db, options),
    enrollmentTokens: new KyselyEnrollmentTokenStore(db, options),
    commands: new KyselyCommandStore(db, options),
    platformState: new KyselyPlatformStateStore(db, options),
    audit: new KyselyAuditStore(db, options),
    coordination: new KyselyCoordinationStore(db, options),
    upstreamRequests: new KyselyUpstreamRequestStore(db, options),
    planGenerations: new KyselyPlanGenerationStore(db, options),
  };
}

// The class's instance type is the whole Storage: the constructor copies every
// store's methods onto the instance (checked below by the typed `methods`
// object, which TypeScript refuses if a Storage method is missing).
export interface KyselyStorage extends Storage {}

export class KyselyStorage implements MigratingStore {
  readonly dialect: SqlDialect;
  /** The stores this storage delegates to (a consumer may take just one). */
  readonly stores: KyselyStores;
  #closed = false;

  constructor(
    readonly db: Kysely<Database>,
    options: KyselyStorageOptions,
  ) {
    this.dialect = options.dialect;
    this.stores = buildStores(db, options);
    const s = this.stores;
    const methods: Omit<Storage, keyof MigratingStore> = {
      ...boundMethods<DirectoryStore>(s.directory),
      ...boundMethods<ProfileStore>(s.profiles),
      ...boundMethods<AssignmentStore>(s.assignments),
      ...boundMethods<IssuanceStore>(s.issuance),
      ...boundMethods<DeliveryStore>(s.deliveries),
      ...boundMethods<EnrollmentTokenStore>(s.enrollmentTokens),
      ...boundMethods<CommandStore>(s.commands),
      ...boundMethods<PlatformStateStore>(s.platformState),
      ...boundMethods<AuditStore>(s.audit),
      ...boundMethods<CoordinationStore>(s.coordination),
      ...boundMethods<UpstreamRequestStore>(s.upstreamRequests),
      ...boundMethods<PlanGenerationStore>(s.planGenerations),
    };
    Object.assign(this, methods);
  }

  async migrate(): Promise<void> {
    await migrateToLatest(this.db, this.dialect);
  }

  async pendingMigrations(): Promise<string[]> {
    return pendingMigrations(this.db, this.dialect);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.db.destroy();
  }
}
