import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';
import { isForeignKeyViolation } from './db-errors.js';
import { StorageConflictError, type KeyMaterial } from './storage.js';

// What several gateway instances on one database coordinate through (issue 10,
// migration 0014): leases (who runs scheduled work, who holds a device's
// session), the sealed key material every instance loads, and versioned
// adapter state. Every write is one conditional statement, so it is atomic on
// SQLite and PostgreSQL alike without explicit row locks.

export class CoordinationStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly stamp: () => string,
  ) {}

  async tryLease(name: string, holder: string, ttlMs: number, now: string): Promise<boolean> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`lease ttl must be a positive number of milliseconds, got ${ttlMs}`);
    const at = Date.parse(now);
    if (Number.isNaN(at)) throw new RangeError(`lease time is not a timestamp: ${now}`);
    const expiresAt = new Date(at + ttlMs).toISOString();
    const nowIso = new Date(at).toISOString();
    // Taken when free, expired or already ours; the WHERE on the conflict
    // update makes "someone else holds it" a no-op that returns no row.
    const row = await this.db
      .insertInto('leases')
      .values({ name, holder, expires_at: expiresAt })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder, expires_at: expiresAt })
          .where((eb) => eb.or([eb('leases.holder', '=', holder), eb('leases.expires_at', '<=', nowIso)])),
      )
      .returning('holder')
      .executeTakeFirst();
    return row !== undefined;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }

  async listKeyMaterial(): Promise<KeyMaterial[]> {
    const rows = await this.db.selectFrom('key_material').selectAll().orderBy('name', 'asc').execute();
    return rows.map(keyMaterialOf);
  }

  async getKeyMaterial(name: string): Promise<KeyMaterial | null> {
    const row = await this.db.selectFrom('key_material').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? keyMaterialOf(row) : null;
  }

  async putKeyMaterial(name: string, value: Uint8Array, expectedVersion: number): Promise<number | null> {
    if (!Number.isInteger(expectedVersion) || expectedVersion < 0) throw new RangeError(`expectedVersion must be a non-negative integer, got ${expectedVersion}`);
    const updatedAt = this.stamp();
    if (expectedVersion === 0) {
      // Insert-if-absent: the first instance's key wins, the others read it.
      const row = await this.db
        .insertInto('key_material')
        .values({ name, value: Buffer.from(value), version: 1, updated_at: updatedAt })
        .onConflict((oc) => oc.column('name').doNothing())
        .returning('version')
        .executeTakeFirst();
      return row ? 1 : null;
    }
    const row = await this.db
      .updateTable('key_material')
      .set({ value: Buffer.from(value), version: expectedVersion + 1, updated_at: updatedAt })
      .where('name', '=', name)
      .where('version', '=', expectedVersion)
      .returning('version')
      .executeTakeFirst();
    return row ? Number(row.version) : null;
  }

  async getPlatformStateVersioned(deviceId: string, adapter: string): Promise<{ state: Record<string, unknown> | null; version: number }> {
    const row = await this.db
      .selectFrom('platform_state')
      .select(['state', 'version'])
      .where('device_id', '=', deviceId)
      .where('adapter', '=', adapter)
      .executeTakeFirst();
    return row ? { state: JSON.parse(row.state) as Record<string, unknown>, version: Number(row.version) } : { state: null, version: 0 };
  }

  async putPlatformStateIfVersion(deviceId: string, adapter: string, state: Record<string, unknown>, expectedVersion: number): Promise<boolean> {
    if (!Number.isInteger(expectedVersion) || expectedVersion < 0) throw new RangeError(`expectedVersion must be a non-negative integer, got ${expectedVersion}`);
    const json = JSON.stringify(state);
    const updatedAt = this.stamp();
    if (expectedVersion === 0) {
      try {
        const row = await this.db
          .insertInto('platform_state')
          .values({ device_id: deviceId, adapter, state: json, updated_at: updatedAt, version: 1 })
          .onConflict((oc) => oc.columns(['device_id', 'adapter']).doNothing())
          .returning('version')
          .executeTakeFirst();
        return row !== undefined;
      } catch (e) {
        if (isForeignKeyViolation(e)) throw new StorageConflictError(`device ${deviceId} not found`, 'not-found');
        throw e;
      }
    }
    const result = await this.db
      .updateTable('platform_state')
      .set({ state: json, updated_at: updatedAt, version: sql<number>`version + 1` })
      .where('device_id', '=', deviceId)
      .where('adapter', '=', adapter)
      .where('version', '=', expectedVersion)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}

function keyMaterialOf(r: { name: string; value: Uint8Array; version: number | string; updated_at: string }): KeyMaterial {
  return { name: r.name, value: new Uint8Array(r.value), version: Number(r.version), updatedAt: r.updated_at };
}
