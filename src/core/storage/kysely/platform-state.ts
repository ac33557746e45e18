import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { StorageConflictError } from '../storage.js';
import type { PlatformStateStore } from '../platform-state-store.js';
import { prepared } from './prepared.js';
import { KyselyStore, isForeignKeyViolation, type Db } from './support.js';

// Per-device protocol state (one JSON document per device and adapter) and
// gateway-wide settings.

// Every check-in reads its state and most write it back with a compare-and-set:
// compiled once per store (prepared.ts, issue 13).
type StateKey = { deviceId: string; adapter: string };
const STATE = prepared('platform state', (db, p: StateKey) =>
  db.selectFrom('platform_state').select('state').where('device_id', '=', p.deviceId).where('adapter', '=', p.adapter),
);
const STATE_VERSIONED = prepared('platform state with its version', (db, p: StateKey) =>
  db.selectFrom('platform_state').select(['state', 'version']).where('device_id', '=', p.deviceId).where('adapter', '=', p.adapter),
);
type StateWrite = StateKey & { state: string; updatedAt: string };
/** The first write of a device's state (expected version 0): nothing when another writer got there first. */
const INSERT_STATE_IF_ABSENT = prepared('insert platform state if absent', (db, p: StateWrite) =>
  db
    .insertInto('platform_state')
    .values({ device_id: p.deviceId, adapter: p.adapter, state: p.state, updated_at: p.updatedAt, version: 1 })
    .onConflict((oc) => oc.columns(['device_id', 'adapter']).doNothing())
    .returning('version'),
);
const UPDATE_STATE_IF_VERSION = prepared('update platform state if version', (db, p: StateWrite & { expectedVersion: number }) =>
  db
    .updateTable('platform_state')
    .set({ state: p.state, updated_at: p.updatedAt, version: sql<number>`version + 1` })
    .where('device_id', '=', p.deviceId)
    .where('adapter', '=', p.adapter)
    .where('version', '=', p.expectedVersion),
);

/**
 * The compare-and-set write of a device's state, on `db` or inside its transaction `via`
 * (putPlatformStateIfVersion; putDeliveryStatusesWithState writes it with a message's reports).
 */
export async function putStateIfVersion(
  db: Kysely<Database>,
  via: Db,
  w: { deviceId: string; adapter: string; state: Record<string, unknown>; expectedVersion: number; updatedAt: string },
): Promise<boolean> {
  const { deviceId, adapter, expectedVersion, updatedAt } = w;
  if (!Number.isInteger(expectedVersion) || expectedVersion < 0) throw new RangeError(`expectedVersion must be a non-negative integer, got ${expectedVersion}`);
  const json = JSON.stringify(w.state);
  if (expectedVersion === 0) {
    try {
      const [row] = await INSERT_STATE_IF_ABSENT.execute(db, { deviceId, adapter, state: json, updatedAt }, via);
      return row !== undefined;
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new StorageConflictError(`device ${deviceId} not found`, 'not-found');
      throw e;
    }
  }
  const result = await UPDATE_STATE_IF_VERSION.run(db, { deviceId, adapter, state: json, updatedAt, expectedVersion }, via);
  return Number(result.numAffectedRows ?? 0) > 0;
}

/** The plain write (putPlatformState): compiled once per store, as the check-in writes it (issue 13: Kysely's insert parsing was a tenth of an Apple connect). */
const UPSERT_STATE = prepared('upsert platform state', (db, p: StateWrite) =>
  db
    .insertInto('platform_state')
    .values({ device_id: p.deviceId, adapter: p.adapter, state: p.state, updated_at: p.updatedAt })
    // The version moves on every write, so a compare-and-set writer (putPlatformStateIfVersion) sees this one.
    .onConflict((oc) => oc.columns(['device_id', 'adapter']).doUpdateSet((eb) => ({ state: eb.ref('excluded.state'), updated_at: eb.ref('excluded.updated_at'), version: sql<number>`platform_state.version + 1` }))),
);

/** putPlatformState's write; `via`: a transaction of `db` (the command exchange of kysely/commands.ts). */
export async function writePlatformState(db: Kysely<Database>, deviceId: string, adapter: string, state: Record<string, unknown>, stamp: string, via: Db = db): Promise<void> {
  await UPSERT_STATE.run(db, { deviceId, adapter, state: JSON.stringify(state), updatedAt: stamp }, via);
}

export class KyselyPlatformStateStore extends KyselyStore implements PlatformStateStore {
  async getPlatformState(deviceId: string, adapter: string): Promise<Record<string, unknown> | null> {
    const row = await STATE.first(this.db, { deviceId, adapter });
    return row ? (JSON.parse(row.state) as Record<string, unknown>) : null;
  }

  async putPlatformState(deviceId: string, adapter: string, state: Record<string, unknown>): Promise<void> {
    try {
      await writePlatformState(this.db, deviceId, adapter, state, this.stamp());
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new StorageConflictError(`device ${deviceId} not found`, 'not-found');
      throw e;
    }
  }

  async getPlatformStateVersioned(deviceId: string, adapter: string): Promise<{ state: Record<string, unknown> | null; version: number }> {
    const row = await STATE_VERSIONED.first(this.db, { deviceId, adapter });
    return row ? { state: JSON.parse(row.state) as Record<string, unknown>, version: Number(row.version) } : { state: null, version: 0 };
  }

  async putPlatformStateIfVersion(deviceId: string, adapter: string, state: Record<string, unknown>, expectedVersion: number): Promise<boolean> {
    return putStateIfVersion(this.db, this.db, { deviceId, adapter, state, expectedVersion, updatedAt: this.stamp() });
  }

  async getSetting(key: string): Promise<string | null> {
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value ?? null;
  }

  async putSetting(key: string, value: string): Promise<void> {
    const row = { key, value, updated_at: this.stamp() };
    await this.db
      .insertInto('settings')
      .values(row)
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: row.updated_at }))
      .execute();
  }
}
