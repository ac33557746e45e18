import type { CoordinationStore, KeyMaterial } from '../coordination-store.js';
import { KyselyStore, isoTimestamp } from './support.js';

// Leases and sealed key material for several instances on one database
// (migration 0014, docs/scale-out.md). Every write is one conditional
// statement, so it is atomic on SQLite and PostgreSQL alike without row locks.

export class KyselyCoordinationStore extends KyselyStore implements CoordinationStore {
  async tryLease(name: string, holder: string, ttlMs: number, now: string): Promise<boolean> {
    now = isoTimestamp(now, 'now');
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
}

function keyMaterialOf(r: { name: string; value: Uint8Array; version: number | string; updated_at: string }): KeyMaterial {
  return { name: r.name, value: new Uint8Array(r.value), version: Number(r.version), updatedAt: r.updated_at };
}
