import { StorageConflictError } from '../storage.js';
import type { PlatformStateStore } from '../platform-state-store.js';
import { KyselyStore, isForeignKeyViolation } from './support.js';

// Per-device protocol state (one JSON document per device and adapter) and
// gateway-wide settings.

export class KyselyPlatformStateStore extends KyselyStore implements PlatformStateStore {
  async getPlatformState(deviceId: string, adapter: string): Promise<Record<string, unknown> | null> {
    const row = await this.db
      .selectFrom('platform_state')
      .select('state')
      .where('device_id', '=', deviceId)
      .where('adapter', '=', adapter)
      .executeTakeFirst();
    return row ? (JSON.parse(row.state) as Record<string, unknown>) : null;
  }

  async putPlatformState(deviceId: string, adapter: string, state: Record<string, unknown>): Promise<void> {
    const row = { device_id: deviceId, adapter, state: JSON.stringify(state), updated_at: this.stamp() };
    try {
      await this.db
        .insertInto('platform_state')
        .values(row)
        .onConflict((oc) => oc.columns(['device_id', 'adapter']).doUpdateSet({ state: row.state, updated_at: row.updated_at }))
        .execute();
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new StorageConflictError(`device ${deviceId} not found`, 'not-found');
      throw e;
    }
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
