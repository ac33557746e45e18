import { beforeEach, describe, expect, it } from 'vitest';
import { KyselyStorage } from '../../../src/core/storage/kysely-storage.js';
import { columnsOf, prepared } from '../../../src/core/storage/kysely/prepared.js';
import type { Storage } from '../../../src/core/storage/storage.js';

// The prepared-query helper (src/core/storage/kysely/prepared.ts) on this
// backend: the same rows as the query Kysely builds per call, in the
// backend's own dialect, inside and outside a transaction.

const DEVICES_OF_USER = prepared('devices of a user', (db, p: { userId: string; platform: string }) =>
  db.selectFrom('devices').select(['id', 'name', 'user_id']).where('user_id', '=', p.userId).where('platform', '=', p.platform).where('deleted_at', 'is', null).orderBy('name').limit(10),
);
const SETTING_UPSERT = prepared('setting upsert', (db, p: { key: string; value: string; at: string }) =>
  db
    .insertInto('settings')
    .values({ key: p.key, value: p.value, updated_at: p.at })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value: p.value, updated_at: p.at }))
    .returning(['key', 'value']),
);
const SETTING_ROW = { key: '', value: '', updated_at: '' };
const SETTING_INSERT = prepared('setting insert', (db, p: typeof SETTING_ROW) => db.insertInto('settings').values(columnsOf(p, ['key', 'value', 'updated_at'])));

export function preparedContract(current: () => Storage): void {
  describe('prepared queries (kysely/prepared.ts)', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });
    const dbOf = () => {
      expect(s).toBeInstanceOf(KyselyStorage);
      return (s as KyselyStorage).db;
    };

    it('returns the same typed rows as the query built per call, for each set of parameters, in the dialect of the backend', async () => {
      const db = dbOf();
      const alice = await s.createUser({ userPrincipalName: 'alice@x', email: 'alice@x', displayName: 'Alice' });
      const bob = await s.createUser({ userPrincipalName: 'bob@x', email: 'bob@x', displayName: 'Bob' });
      for (const [name, platform, userId] of [['b', 'windows', alice.id], ['a', 'windows', alice.id], ['c', 'ios', alice.id], ['d', 'windows', bob.id]] as const) {
        await s.createDevice({ name, platform, userId });
      }
      for (const [userId, platform] of [[alice.id, 'windows'], [alice.id, 'ios'], [bob.id, 'windows'], [bob.id, 'android'], ['nobody', 'windows']] as const) {
        const built = await db.selectFrom('devices').select(['id', 'name', 'user_id']).where('user_id', '=', userId).where('platform', '=', platform).where('deleted_at', 'is', null).orderBy('name').limit(10).execute();
        const rows = await DEVICES_OF_USER.execute(db, { userId, platform });
        expect(rows).toEqual(built);
      }
      expect((await DEVICES_OF_USER.execute(db, { userId: alice.id, platform: 'windows' })).map((r) => r.name)).toEqual(['a', 'b']);
      // Compiled once per instance, with the backend's placeholders.
      const text = DEVICES_OF_USER.sql(db);
      if ((s as KyselyStorage).dialect === 'postgres') expect(text).toMatch(/= \$1 .*= \$2 .*limit \$3$/);
      else expect(text).toMatch(/= \? .*= \? .*limit \?$/);
      expect(DEVICES_OF_USER.sql(db)).toBe(text);
    });

    it('writes and returns rows, inside a transaction too (rolled back with it)', async () => {
      const db = dbOf();
      expect(await SETTING_UPSERT.execute(db, { key: 'k', value: 'one', at: '2030-01-01T00:00:00.000Z' })).toEqual([{ key: 'k', value: 'one' }]);
      expect(await SETTING_UPSERT.first(db, { key: 'k', value: 'two', at: '2030-01-02T00:00:00.000Z' })).toEqual({ key: 'k', value: 'two' });
      expect(await s.getSetting('k')).toBe('two');
      await expect(
        db.transaction().execute(async (trx) => {
          await SETTING_UPSERT.execute(db, { key: 'k', value: 'three', at: '2030-01-03T00:00:00.000Z' }, trx);
          await SETTING_INSERT.execute(db, { key: 'k2', value: 'v', updated_at: '2030-01-03T00:00:00.000Z' }, trx);
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await s.getSetting('k')).toBe('two');
      expect(await s.getSetting('k2')).toBeNull();
      const r = await SETTING_INSERT.run(db, { key: 'k2', value: 'v', updated_at: '2030-01-03T00:00:00.000Z' });
      expect(Number(r.numAffectedRows)).toBe(1);
      expect(await s.getSetting('k2')).toBe('v');
    });

    it('a prepared write from outside an open transaction is not taken into it: it waits, and survives the rollback', async () => {
      const db = dbOf();
      let inside!: () => void;
      const opened = new Promise<void>((r) => (inside = r));
      let outside: Promise<unknown> | null = null;
      await expect(
        db.transaction().execute(async (trx) => {
          await SETTING_INSERT.execute(db, { key: 'tx-row', value: 'v', updated_at: '2030-01-04T00:00:00.000Z' }, trx);
          inside();
          // Another request's write while this transaction is open (on SQLite: the same connection).
          outside = SETTING_INSERT.execute(db, { key: 'outside-row', value: 'v', updated_at: '2030-01-04T00:00:00.000Z' });
          await new Promise((r) => setTimeout(r, 20));
          await SETTING_INSERT.execute(db, { key: 'tx-row-2', value: 'v', updated_at: '2030-01-04T00:00:00.000Z' }, trx);
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      await opened;
      await outside;
      expect(await s.getSetting('tx-row')).toBeNull();
      expect(await s.getSetting('tx-row-2')).toBeNull();
      expect(await s.getSetting('outside-row')).toBe('v');
    });

    it('on SQLite runs on the connection without Kysely\'s executor; on PostgreSQL through it', async () => {
      const db = dbOf();
      let viaKysely = 0;
      const original = db.executeQuery.bind(db);
      (db as { executeQuery: typeof db.executeQuery }).executeQuery = ((q: Parameters<typeof db.executeQuery>[0]) => {
        viaKysely++;
        return original(q);
      }) as typeof db.executeQuery;
      try {
        expect(await SETTING_UPSERT.first(db, { key: 'direct', value: 'one', at: '2030-01-05T00:00:00.000Z' })).toEqual({ key: 'direct', value: 'one' });
        expect(await DEVICES_OF_USER.execute(db, { userId: 'nobody', platform: 'windows' })).toEqual([]);
      } finally {
        delete (db as { executeQuery?: unknown }).executeQuery;
      }
      expect(viaKysely).toBe((s as KyselyStorage).dialect === 'sqlite' ? 0 : 2);
      expect(await s.getSetting('direct')).toBe('one');
    });

    it('refuses a missing parameter, and a builder that does not pass a parameter through unchanged', async () => {
      const db = dbOf();
      await expect(SETTING_INSERT.execute(db, { key: 'k3', value: 'v' } as typeof SETTING_ROW)).rejects.toThrow(/prepared query setting insert: parameter updated_at is missing/);
      expect(await s.getSetting('k3')).toBeNull();
      const inList = prepared('in list', (d, p: { ids: string[] }) => d.selectFrom('devices').select('id').where('id', 'in', p.ids));
      await expect(inList.execute(db, { ids: ['a'] })).rejects.toThrow(/prepared query in list: parameter ids is a list, which cannot be prepared/);
      const changed = prepared('changed', (d, p: { name: string }) => d.selectFrom('devices').select('id').where('name', '=', `${p.name}%`));
      await expect(changed.execute(db, { name: 'a' })).rejects.toThrow(/prepared query changed: every parameter/);
      const dropped = prepared('dropped', (d, p: { name: string }) => d.selectFrom('devices').select('id').where('name', '=', p.name ? 'x' : 'y'));
      await expect(dropped.execute(db, { name: 'a' })).rejects.toThrow(/not bound: name/);
    });
  });
}
