import { Migrator, sql } from 'kysely';
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import { caseFoldedKey, USER_SEARCH_INDEXES } from './kysely/prefix-search.js';

// Versioned schema migrations, written with Kysely's schema builder only so the
// same list runs on SQLite and PostgreSQL. The only dialect differences are the
// binary column type (blob / bytea) and the audit sequence column; everything
// else is portable DDL (CHECK expressions are plain SQL both databases accept).
//
// Rules for adding a migration: append a new key that sorts after the last one
// ('0002_...'); never edit or rename a released migration (the Migrator refuses
// to run when an executed migration is missing or out of order).
//
// Every migration runs inside a transaction (see inTransaction and sqlite.ts). On
// SQLite that means `PRAGMA foreign_keys = OFF` has no effect inside a migration:
// a table rebuild must keep foreign keys valid at each statement (or use
// `PRAGMA defer_foreign_keys = ON`, which does work inside a transaction).

export type SqlDialect = 'sqlite' | 'postgres';

// The migrations must not depend on today's Database type: they describe history.
type AnyDb = Kysely<any>;

/**
 * Runs a migration body in a transaction unless the Migrator already provides one
 * (PostgreSQL, and our SQLite dialect, which reports transactional DDL). With a
 * dialect that does not (Kysely's stock SqliteDialect), each migration is still
 * all-or-nothing.
 */
async function inTransaction(db: AnyDb, body: (db: AnyDb) => Promise<void>): Promise<void> {
  if (db.isTransaction) {
    await body(db);
  } else {
    await db.transaction().execute(body);
  }
}

function initialSchema(dialect: SqlDialect): Migration {
  const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        // IF NOT EXISTS everywhere: on SQLite the migration row is written after this
        // transaction commits, so a crash in between must leave a re-runnable migration.
        await db.schema
          .createTable('users')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_principal_name', 'text', (c) => c.notNull().unique())
          .addColumn('email', 'text', (c) => c.notNull())
          .addColumn('display_name', 'text', (c) => c.notNull())
          .addColumn('attributes', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('devices')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('platform', 'text', (c) => c.notNull())
          .addColumn('serial_number', 'text')
          .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
          .addColumn('attributes', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addCheckConstraint('devices_platform_check', sql`platform in ('windows', 'ios', 'macos', 'android')`)
          .execute();
        await db.schema.createIndex('devices_user_id_idx').ifNotExists().on('devices').column('user_id').execute();

        await db.schema
          .createTable('groups')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('group_members')
          .ifNotExists()
          .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
          .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
          .addColumn('device_id', 'text', (c) => c.references('devices.id').onDelete('cascade'))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addCheckConstraint('group_members_one_member', sql`(user_id is null) <> (device_id is null)`)
          .execute();
        // NULLs are distinct in unique indexes on both databases, so these two only
        // constrain the column that is set.
        await db.schema
          .createIndex('group_members_user_uq')
          .ifNotExists()
          .on('group_members')
          .columns(['group_id', 'user_id'])
          .unique()
          .execute();
        await db.schema
          .createIndex('group_members_device_uq')
          .ifNotExists()
          .on('group_members')
          .columns(['group_id', 'device_id'])
          .unique()
          .execute();
        await db.schema.createIndex('group_members_user_idx').ifNotExists().on('group_members').column('user_id').execute();
        await db.schema
          .createIndex('group_members_device_idx')
          .ifNotExists()
          .on('group_members')
          .column('device_id')
          .execute();

        await db.schema
          .createTable('profiles')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('current_version', 'integer', (c) => c.notNull())
          .addColumn('deleted_at', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('profile_versions')
          .ifNotExists()
          .addColumn('profile_id', 'text', (c) => c.notNull().references('profiles.id').onDelete('cascade'))
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('spec', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('profile_versions_pk', ['profile_id', 'version'])
          .execute();

        await db.schema
          .createTable('assignments')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('profile_id', 'text', (c) => c.notNull().references('profiles.id').onDelete('cascade'))
          .addColumn('target_kind', 'text', (c) => c.notNull())
          // Polymorphic: users.id, devices.id or groups.id. Existence is checked by
          // the storage layer inside the inserting transaction.
          .addColumn('target_id', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addCheckConstraint('assignments_target_kind_check', sql`target_kind in ('user', 'device', 'group')`)
          .addUniqueConstraint('assignments_target_uq', ['profile_id', 'target_kind', 'target_id'])
          .execute();
        await db.schema
          .createIndex('assignments_target_idx')
          .ifNotExists()
          .on('assignments')
          .columns(['target_kind', 'target_id'])
          .execute();

        await db.schema
          .createTable('used_challenges')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('transaction_id', 'text')
          .addColumn('used_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('used_challenges_expires_at_idx')
          .ifNotExists()
          .on('used_challenges')
          .column('expires_at')
          .execute();

        // Enrollments and certificates are records of what happened: no foreign keys to
        // the directory or profiles, so they survive later directory changes.
        await db.schema
          .createTable('enrollments')
          .ifNotExists()
          .addColumn('transaction_id', 'text', (c) => c.primaryKey())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('challenge_id', 'text')
          .addColumn('profile_id', 'text')
          .addColumn('profile_version', 'integer')
          .addColumn('device_id', 'text')
          .addColumn('user_id', 'text')
          .addColumn('csr_sha256', 'text', (c) => c.notNull())
          .addColumn('csr_der', bytes, (c) => c.notNull())
          .addColumn('resolved', 'text')
          .addColumn('certificate_serial', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addCheckConstraint('enrollments_status_check', sql`status in ('pending', 'issued', 'rejected')`)
          .addCheckConstraint('enrollments_kind_check', sql`kind in ('profile', 'identity')`)
          .execute();
        await db.schema
          .createIndex('enrollments_status_idx')
          .ifNotExists()
          .on('enrollments')
          .column('status')
          .execute();

        await db.schema
          .createTable('certificates')
          .ifNotExists()
          .addColumn('serial_number', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('subject', 'text', (c) => c.notNull())
          .addColumn('not_before', 'text', (c) => c.notNull())
          .addColumn('not_after', 'text', (c) => c.notNull())
          .addColumn('thumbprint', 'text', (c) => c.notNull())
          .addColumn('sha256', 'text', (c) => c.notNull())
          .addColumn('transaction_id', 'text')
          .addColumn('profile_id', 'text')
          .addColumn('profile_version', 'integer')
          .addColumn('device_id', 'text')
          .addColumn('user_id', 'text')
          .addColumn('der', bytes, (c) => c.notNull())
          .addColumn('issued_at', 'text', (c) => c.notNull())
          .addColumn('revoked_at', 'text')
          .addCheckConstraint('certificates_kind_check', sql`kind in ('profile', 'identity')`)
          .execute();
        for (const column of ['device_id', 'user_id', 'profile_id', 'thumbprint', 'sha256', 'transaction_id'] as const) {
          await db.schema
            .createIndex(`certificates_${column}_idx`)
            .ifNotExists()
            .on('certificates')
            .column(column)
            .execute();
        }

        let audit = db.schema.createTable('audit_events').ifNotExists();
        audit =
          dialect === 'postgres'
            ? audit.addColumn('id', 'bigint', (c) => c.generatedByDefaultAsIdentity().primaryKey())
            : // SQLite: AUTOINCREMENT so ids are never reused, even after deleting the newest rows.
              audit.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
        await audit
          .addColumn('at', 'text', (c) => c.notNull())
          .addColumn('transaction_id', 'text')
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('reason_code', 'text')
          .addColumn('actor', 'text')
          .addColumn('details', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('audit_events_transaction_id_idx')
          .ifNotExists()
          .on('audit_events')
          .column('transaction_id')
          .execute();
        await db.schema.createIndex('audit_events_type_idx').ifNotExists().on('audit_events').column('type').execute();

        // What each device last said about each profile (adapters report it).
        await db.schema
          .createTable('delivery_status')
          .ifNotExists()
          .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
          .addColumn('profile_id', 'text', (c) => c.notNull())
          .addColumn('profile_version', 'integer', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('thumbprint', 'text')
          .addColumn('certificate_serial', 'text')
          .addColumn('error_code', 'text')
          .addColumn('detail', 'text')
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('delivery_status_pk', ['device_id', 'profile_id'])
          .addCheckConstraint('delivery_status_state_check', sql`state in ('pending', 'enrolling', 'installed', 'failed', 'removed')`)
          .execute();
        await db.schema.createIndex('delivery_status_profile_idx').ifNotExists().on('delivery_status').column('profile_id').execute();

        // One-time enrollment tokens (every platform): only the SHA-256 of the token is stored.
        await db.schema
          .createTable('enrollment_tokens')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('token_sha256', 'text', (c) => c.notNull().unique())
          .addColumn('platform', 'text', (c) => c.notNull())
          .addColumn('user_id', 'text')
          .addColumn('device_id', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .addColumn('used_at', 'text')
          .execute();

        // Commands adapters queue for devices (Apple MDM commands and the like).
        await db.schema
          .createTable('device_commands')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
          .addColumn('channel', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('profile_id', 'text')
          .addColumn('profile_version', 'integer')
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('result', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addCheckConstraint(
            'device_commands_status_check',
            sql`status in ('queued', 'sent', 'acknowledged', 'error', 'notnow', 'formaterror', 'cancelled')`,
          )
          .execute();
        await db.schema.createIndex('device_commands_device_idx').ifNotExists().on('device_commands').columns(['device_id', 'channel', 'status']).execute();

        // Per-device, per-adapter protocol state (push tokens, DevInfo, agent facts) as JSON.
        await db.schema
          .createTable('platform_state')
          .ifNotExists()
          .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
          .addColumn('adapter', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('platform_state_pk', ['device_id', 'adapter'])
          .execute();

        // Gateway-wide settings adapters own (e.g. the APNs push certificate).
        await db.schema
          .createTable('settings')
          .ifNotExists()
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        for (const table of [
          'settings',
          'platform_state',
          'device_commands',
          'enrollment_tokens',
          'delivery_status',
          'audit_events',
          'certificates',
          'enrollments',
          'used_challenges',
          'assignments',
          'profile_versions',
          'profiles',
          'group_members',
          'groups',
          'devices',
          'users',
        ]) {
          await db.schema.dropTable(table).ifExists().execute();
        }
      });
    },
  };
}

/**
 * What a device reports about itself (name, serial number) is kept beside the
 * admin's values, and which of those collide with another device's. Existing
 * names stay admin values: nothing tells which of them an enrollment wrote.
 */
function deviceReportedValues(): Migration {
  const columns = ['reported_name', 'reported_serial_number', 'reported_conflicts', 'reported_at'];
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        // One ADD COLUMN per statement: SQLite accepts no more.
        await db.schema.alterTable('devices').addColumn('reported_name', 'text').execute();
        await db.schema.alterTable('devices').addColumn('reported_serial_number', 'text').execute();
        await db.schema.alterTable('devices').addColumn('reported_conflicts', 'text', (c) => c.notNull().defaultTo('[]')).execute();
        await db.schema.alterTable('devices').addColumn('reported_at', 'text').execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        for (const c of [...columns].reverse()) await db.schema.alterTable('devices').dropColumn(c).execute();
      });
    },
  };
}

/**
 * S5 (security issue #15): renewals remember what they renew, so revoking a
 * certificate can revoke its successors; revocations carry an RFC 5280 reason
 * for the CRL/OCSP work; devices can be blocked. New columns are nullable so
 * existing rows stay valid; a certificate revoked before this migration gets
 * the reason `unspecified`.
 */
function renewalChainDeviceBlock(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.alterTable('certificates').addColumn('renewal_of', 'text').execute();
        await db.schema.alterTable('certificates').addColumn('revocation_reason', 'text').execute();
        await db.updateTable('certificates').set({ revocation_reason: 'unspecified' }).where('revoked_at', 'is not', null).execute();
        await db.schema.createIndex('certificates_renewal_of_idx').ifNotExists().on('certificates').column('renewal_of').execute();
        await db.schema.alterTable('enrollments').addColumn('renewal_of', 'text').execute();
        await db.schema.alterTable('devices').addColumn('blocked_at', 'text').execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.dropIndex('certificates_renewal_of_idx').ifExists().execute();
        await db.schema.alterTable('devices').dropColumn('blocked_at').execute();
        await db.schema.alterTable('enrollments').dropColumn('renewal_of').execute();
        await db.schema.alterTable('certificates').dropColumn('revocation_reason').execute();
        await db.schema.alterTable('certificates').dropColumn('renewal_of').execute();
      });
    },
  };
}

/**
 * Housekeeping purges audit records by age and answered device commands by age
 * and per-device count: indexes so neither purge scans the whole table.
 */
function auditRetention(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.createIndex('audit_events_at_idx').ifNotExists().on('audit_events').column('at').execute();
        await db.schema
          .createIndex('device_commands_status_updated_idx')
          .ifNotExists()
          .on('device_commands')
          .columns(['status', 'updated_at'])
          .execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.dropIndex('device_commands_status_updated_idx').ifExists().execute();
        await db.schema.dropIndex('audit_events_at_idx').ifExists().execute();
      });
    },
  };
}

/**
 * Which CA signed each certificate: CRLs and OCSP answer per CA, and after a CA
 * rollover the retired CA still answers for what it issued. Existing rows get
 * their issuer at the gateway's next start (Storage.assignLegacyIssuer): the
 * migration cannot know the CA's key identifier.
 */
function certificateIssuer(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.alterTable('certificates').addColumn('issuer_id', 'text').execute();
        await db.schema
          .createIndex('certificates_issuer_revoked_idx')
          .ifNotExists()
          .on('certificates')
          .columns(['issuer_id', 'revoked_at'])
          .execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.dropIndex('certificates_issuer_revoked_idx').ifExists().execute();
        await db.schema.alterTable('certificates').dropColumn('issuer_id').execute();
      });
    },
  };
}

/**
 * Certificate reports (GET /certificates?status=&expiringWithinDays=, paged):
 * the list order (issued_at, serial_number) is the keyset paging key, and
 * expiry filters range over not_after.
 */
function certificateReporting(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.createIndex('certificates_issued_at_serial_idx').ifNotExists().on('certificates').columns(['issued_at', 'serial_number']).execute();
        await db.schema.createIndex('certificates_not_after_idx').ifNotExists().on('certificates').column('not_after').execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.dropIndex('certificates_not_after_idx').ifExists().execute();
        await db.schema.dropIndex('certificates_issued_at_serial_idx').ifExists().execute();
      });
    },
  };
}

/**
 * The last CRL Number per CA. A table of its own (not a setting) so that
 * handing out the next number is one atomic upsert on SQLite and PostgreSQL,
 * and two gateway instances sharing the database never sign two different
 * CRLs with the same number.
 */
function crlState(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema
          .createTable('crl_state')
          .addColumn('issuer_id', 'text', (c) => c.primaryKey())
          .addColumn('crl_number', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.dropTable('crl_state').ifExists().execute();
      });
    },
  };
}

/**
 * Revocation triggers (lifecycle issue #9): retired and deleted devices,
 * disabled and deleted users keep their rows (certificates and audit refer to
 * them), and a profile certificate whose profile no longer reaches its device
 * waits in pending_removals until the platform confirms the removal or the
 * grace period ends.
 */
function lifecycleTriggers(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.alterTable('devices').addColumn('retired_at', 'text').execute();
        await db.schema.alterTable('devices').addColumn('deleted_at', 'text').execute();
        await db.schema.alterTable('users').addColumn('disabled_at', 'text').execute();
        await db.schema.alterTable('users').addColumn('deleted_at', 'text').execute();
        await db.schema
          .createTable('pending_removals')
          .ifNotExists()
          .addColumn('serial_number', 'text', (c) => c.primaryKey().references('certificates.serial_number'))
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('profile_id', 'text', (c) => c.notNull())
          .addColumn('since', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('pending_removals_device_idx').ifNotExists().on('pending_removals').column('device_id').execute();
        await db.schema.createIndex('pending_removals_since_idx').ifNotExists().on('pending_removals').column('since').execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.dropTable('pending_removals').ifExists().execute();
        await db.schema.alterTable('users').dropColumn('deleted_at').execute();
        await db.schema.alterTable('users').dropColumn('disabled_at').execute();
        await db.schema.alterTable('devices').dropColumn('deleted_at').execute();
        await db.schema.alterTable('devices').dropColumn('retired_at').execute();
      });
    },
  };
}

/**
 * An identity certificate re-delivered by an adapter over SCEP (Apple's
 * identity renewal) is a renewal of the identity the device holds: the
 * challenge minted for it remembers which certificate it renews, so the one
 * issued with it records renewal_of (core/identity-renewal.ts).
 */
function identityRenewal(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema
          .createTable('identity_renewal_challenges')
          .ifNotExists()
          .addColumn('challenge_id', 'text', (c) => c.primaryKey())
          .addColumn('renewal_of', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.dropTable('identity_renewal_challenges').ifExists().execute();
      });
    },
  };
}

/**
 * The admin console's recent enrollments (GET /api/v1/enrollments, newest
 * first): an index on created_at so the listing does not scan every
 * enrollment ever made.
 */
function enrollmentListing(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema
          .createIndex('enrollments_created_at_idx')
          .ifNotExists()
          .on('enrollments')
          .columns(['created_at', 'transaction_id'])
          .execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.dropIndex('enrollments_created_at_idx').ifExists().execute();
      });
    },
  };
}

/**
 * Retiring a device (lifecycle issue #9): retiring_since is set when the
 * administrator retires it (profile certificates revoked, the platform removes
 * its profiles); retired_at once the platform confirmed or the grace ended.
 */
function deviceRetiring(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.alterTable('devices').addColumn('retiring_since', 'text').execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.alterTable('devices').dropColumn('retiring_since').execute();
      });
    },
  };
}

/**
 * Several gateway instances on one database (issue 10): key_material holds the
 * CA, RA, OCSP, challenge-signing and secrets keys sealed under
 * MDMGW_CA_PASSPHRASE (core/keys/); leases elect the one instance that runs
 * scheduled work (housekeeping) and serialise per-device sessions;
 * platform_state.version makes adapter state writes compare-and-set.
 */
function instanceCoordination(dialect: SqlDialect): Migration {
  const bytes = dialect === 'postgres' ? 'bytea' : 'blob';
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema
          .createTable('key_material')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', bytes, (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('leases')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('holder', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.alterTable('platform_state').addColumn('version', 'integer', (c) => c.notNull().defaultTo(1)).execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.alterTable('platform_state').dropColumn('version').execute();
        await db.schema.dropTable('leases').ifExists().execute();
        await db.schema.dropTable('key_material').ifExists().execute();
      });
    },
  };
}

/**
 * Directory sync (issue 11, docs/directory.md): users and groups record where
 * they come from ('local' or 'ldap') and the directory's id of their entry,
 * unique per source (NULLs, local rows, never collide); users page by
 * (created_at, id), optionally within one source.
 */
function directorySource(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        for (const table of ['users', 'groups'] as const) {
          await db.schema.alterTable(table).addColumn('source', 'text', (c) => c.notNull().defaultTo('local')).execute();
          await db.schema.alterTable(table).addColumn('external_id', 'text').execute();
          await db.schema.createIndex(`${table}_source_external_id_idx`).ifNotExists().unique().on(table).columns(['source', 'external_id']).execute();
        }
        await db.schema.createIndex('users_page_idx').ifNotExists().on('users').columns(['created_at', 'id']).execute();
        await db.schema.createIndex('users_source_page_idx').ifNotExists().on('users').columns(['source', 'created_at', 'id']).execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        for (const name of ['users_source_page_idx', 'users_page_idx', 'users_source_external_id_idx', 'groups_source_external_id_idx']) await db.schema.dropIndex(name).ifExists().execute();
        for (const table of ['users', 'groups'] as const) {
          await db.schema.alterTable(table).dropColumn('external_id').execute();
          await db.schema.alterTable(table).dropColumn('source').execute();
        }
      });
    },
  };
}

/**
 * Upstream-CA mode (issue 12 part 2, docs/upstream-ca.md): an enrollment the
 * upstream CA answered PENDING waits here until the poller has its answer.
 * `state` is the connector's own (JSON: upstream transaction id, names; no secrets).
 */
function upstreamRequests(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema
          .createTable('upstream_requests')
          .addColumn('transaction_id', 'text', (c) => c.primaryKey())
          .addColumn('upstream', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('next_poll_at', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('last_error', 'text')
          .execute();
        await db.schema.createIndex('upstream_requests_next_poll').on('upstream_requests').column('next_poll_at').execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.dropTable('upstream_requests').ifExists().execute();
      });
    },
  };
}

/** The devices columns a reported value is compared with, ignoring case and blanks (core/reported-values.ts). */
const IDENTIFIER_INDEXES = { name: 'devices_name_ci_idx', reported_name: 'devices_reported_name_ci_idx', serial_number: 'devices_serial_ci_idx', reported_serial_number: 'devices_reported_serial_ci_idx' } as const;

/**
 * Issue 13 at 100,000 devices (docs/performance.md, "Query plans at scale"):
 * - the reported-value conflict check (every device enrollment and every
 *   report of a name or serial) and the admin's POST/PATCH /devices compared
 *   lower(trim(column)) over the whole devices table: one expression index per
 *   column (the same expression the query uses, so SQLite and PostgreSQL both
 *   pick it; the OR of two columns becomes two index searches);
 * - the retirement sweep (housekeeping) scanned devices for retiring_since;
 * - the identity renewal challenge purge (housekeeping) scanned its table;
 * - the CRL build read every revoked row from the table (DER and all, one page
 *   each) and sorted by serial: 1.3 s at 24,000 revoked of 300,000 with the
 *   event loop blocked. A covering index in the CRL's order answers it alone.
 */
function hotPathIndexes(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        for (const [column, name] of Object.entries(IDENTIFIER_INDEXES)) {
          await db.schema.createIndex(name).ifNotExists().on('devices').expression(sql`lower(trim(${sql.ref(column)}))`).execute();
        }
        await db.schema.createIndex('devices_retiring_since_idx').ifNotExists().on('devices').column('retiring_since').execute();
        await db.schema.createIndex('identity_renewal_challenges_expires_idx').ifNotExists().on('identity_renewal_challenges').column('expires_at').execute();
        await db.schema.createIndex('certificates_crl_idx').ifNotExists().on('certificates').columns(['issuer_id', 'revoked_at', 'serial_number', 'revocation_reason']).execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        for (const name of [...Object.values(IDENTIFIER_INDEXES), 'devices_retiring_since_idx', 'identity_renewal_challenges_expires_idx', 'certificates_crl_idx']) {
          await db.schema.dropIndex(name).ifExists().execute();
        }
      });
    },
  };
}

/**
 * Per-device plan generation (issue 13, core/plan-generation.ts): a write that
 * changes one device's plan (its certificate issued or revoked, its record)
 * advances this instead of the global generation, so the other devices keep
 * their cached check-in answers.
 */
function devicePlanGeneration(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.alterTable('devices').addColumn('plan_generation', 'integer', (col) => col.notNull().defaultTo(0)).execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.alterTable('devices').dropColumn('plan_generation').execute();
      });
    },
  };
}

/**
 * Admin list paging at scale (issue 13): GET /devices pages by (created_at,
 * id) like GET /users; without this index the first page of 100,000 devices
 * sorts the whole table (SCAN devices + TEMP B-TREE FOR ORDER BY).
 */
function adminListIndexes(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.createIndex('devices_page_idx').ifNotExists().on('devices').columns(['created_at', 'id']).execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.dropIndex('devices_page_idx').ifExists().execute();
      });
    },
  };
}

/**
 * Admin list searches at scale (issue 13, docs/performance.md "Query plans"):
 * - GET /certificates?expiringWithinDays= took a not_after range and then
 *   sorted it in issue order (51 ms a page at 300,000 certificates): the
 *   report now pages in expiry order, (not_after, serial_number), which this
 *   index serves as a range stopped by LIMIT;
 * - GET /users?q= was `lower(column) like '%q%'` (no index can serve a
 *   substring: 73-97 ms over 50,000 users): it is a prefix search now, a range
 *   on `lower(column)` per searched column. PostgreSQL compares text in the
 *   database's collation, where a range is not a prefix: there the key is in
 *   byte order (`collate "C"`). The query builds the same expression
 *   (kysely/prefix-search.ts): keep the two in step, or the index is not used;
 * - GET /groups, /assignments and /profiles page in creation order like
 *   GET /devices (0019): one (created_at, id) index each.
 */
function listSearchIndexes(dialect: SqlDialect): Migration {
  // One definition with the query (kysely/prefix-search.ts): the indexed expression and the searched one cannot drift apart.
  const key = (column: string) => caseFoldedKey(column, dialect);
  const userIndexes = USER_SEARCH_INDEXES;
  // GET /groups, /assignments (also of one profile) and /profiles page in creation order like /devices (0019).
  const pageIndexes: [string, string, string[]][] = [
    ['groups_page_idx', 'groups', ['created_at', 'id']],
    ['assignments_page_idx', 'assignments', ['created_at', 'id']],
    ['assignments_profile_page_idx', 'assignments', ['profile_id', 'created_at', 'id']],
    ['profiles_page_idx', 'profiles', ['created_at', 'id']],
  ];
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.createIndex('certificates_expiry_page_idx').ifNotExists().on('certificates').columns(['not_after', 'serial_number']).execute();
        for (const [column, name] of Object.entries(userIndexes)) await db.schema.createIndex(name).ifNotExists().on('users').expression(key(column)).execute();
        for (const [name, table, columns] of pageIndexes) await db.schema.createIndex(name).ifNotExists().on(table).columns(columns).execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        for (const name of ['certificates_expiry_page_idx', ...Object.values(userIndexes), ...pageIndexes.map(([n]) => n)]) await db.schema.dropIndex(name).ifExists().execute();
      });
    },
  };
}

/**
 * GET /certificates?status= at scale (issue 13, docs/performance.md "Revoked
 * lists ..."): each status walked the paging index (issued_at,
 * serial_number) and read every table row it passed to test it. `revoked`
 * skipped the 92% not revoked (10.5 ms a page at 300,000 certificates);
 * `valid` first passed every expired certificate (the oldest issued: 136,000
 * rows, 475-860 ms a page). Two partial indexes in paging order, each with
 * the query's condition word for word so both SQLite and PostgreSQL use it:
 * the revoked rows, and the unrevoked rows carrying not_after, so that
 * valid/expired are told apart on the index entry without reading the row.
 */
function revokedListIndex(): Migration {
  return {
    async up(outer) {
      await inTransaction(outer, async (db) => {
        await db.schema.createIndex('certificates_revoked_page_idx').ifNotExists().on('certificates').columns(['issued_at', 'serial_number']).where(sql.ref('revoked_at'), 'is not', null).execute();
        await db.schema.createIndex('certificates_unrevoked_page_idx').ifNotExists().on('certificates').columns(['issued_at', 'serial_number', 'not_after']).where(sql.ref('revoked_at'), 'is', null).execute();
      });
    },
    async down(outer) {
      await inTransaction(outer, async (db) => {
        for (const name of ['certificates_revoked_page_idx', 'certificates_unrevoked_page_idx']) await db.schema.dropIndex(name).ifExists().execute();
      });
    },
  };
}

/** Every migration, by name; names sort in application order. */
export function migrations(dialect: SqlDialect): Record<string, Migration> {
  return {
    '0001_initial': initialSchema(dialect),
    '0002_device_reported_values': deviceReportedValues(),
    '0003_renewal_chain_device_block': renewalChainDeviceBlock(),
    '0004_audit_retention': auditRetention(),
    '0005_certificate_issuer': certificateIssuer(),
    '0006_lifecycle_triggers': lifecycleTriggers(),
    '0007_identity_renewal': identityRenewal(),
    '0008_certificate_reporting': certificateReporting(),
    '0009_crl_state': crlState(),
    '0011_enrollment_listing': enrollmentListing(),
    '0012_device_retiring': deviceRetiring(),
    '0013_directory_source': directorySource(),
    '0014_instance_coordination': instanceCoordination(dialect),
    '0016_upstream_requests': upstreamRequests(),
    '0017_hot_path_indexes': hotPathIndexes(),
    '0018_device_plan_generation': devicePlanGeneration(),
    '0019_admin_list_indexes': adminListIndexes(),
    '0020_list_search_indexes': listSearchIndexes(dialect),
    '0025_revoked_list_index': revokedListIndex(),
  };
}

/** Static, in-code provider: no filesystem scanning, so it works from dist/ and from tsx. */
export function migrationProvider(dialect: SqlDialect): MigrationProvider {
  const all = migrations(dialect);
  return { getMigrations: async () => all };
}

/** Runs pending migrations; throws the first migration error. Idempotent. */
export async function migrateToLatest(db: AnyDb, dialect: SqlDialect): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error');
    const cause = error instanceof Error ? error : new Error(String(error));
    throw new Error(`storage migration ${failed ? `"${failed.migrationName}" ` : ''}failed: ${cause.message}`, { cause });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export async function pendingMigrations(db: AnyDb, dialect: SqlDialect): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect) });
  return (await migrator.getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
}
