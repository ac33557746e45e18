import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';

// Issue 13: the SQLite backend prepares each distinct statement once and
// reuses it (Kysely's driver would prepare it on every query).

afterEach(() => {
  vi.restoreAllMocks();
});

describe('SQLite statement cache', () => {
  it('prepares a repeated query once, and still answers each call with current data', async () => {
    const storage = await openSqliteStorage(':memory:');
    try {
      const prepare = vi.spyOn(BetterSqlite3.prototype, 'prepare');
      expect(await storage.getDevice('00000000-0000-4000-8000-000000000000')).toBeNull();
      expect(await storage.getDevice('00000000-0000-4000-8000-000000000001')).toBeNull();
      const device = await storage.createDevice({ name: 'cached-1', platform: 'windows' });
      expect((await storage.getDevice(device.id))?.name).toBe('cached-1');
      const selects = prepare.mock.calls.filter(([sql]) => /^select \* from "devices" where "id" = \?/.test(String(sql)));
      expect(selects).toHaveLength(1);
    } finally {
      await storage.close();
    }
  });
});
