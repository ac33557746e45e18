import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { KyselyStorage } from '../../src/core/storage/kysely-storage.js';
import type { Database } from '../../src/core/storage/schema.js';
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';
import { profileSpec } from '../helpers/profile-spec.js';

// KyselyStorage is a composition of per-concern stores (src/core/storage/kysely/).
// TypeScript checks that the composed methods cover Storage; these check what
// it cannot: no two stores define the same method (one would silently shadow
// the other), every store method reaches the composed storage, and the
// delegates are bound (callers pass storage methods around detached).

function ownMethods(store: object): string[] {
  const proto = Object.getPrototypeOf(store) as object;
  return Object.getOwnPropertyNames(proto).filter((n) => n !== 'constructor' && typeof (store as Record<string, unknown>)[n] === 'function');
}

describe('KyselyStorage composition', () => {
  it('exposes every method of every store, each defined by exactly one store', async () => {
    const storage = (await openSqliteStorage(':memory:')) as KyselyStorage;
    try {
      const owners = new Map<string, string[]>();
      for (const [concern, store] of Object.entries(storage.stores)) {
        for (const name of ownMethods(store)) owners.set(name, [...(owners.get(name) ?? []), concern]);
      }
      const shared = [...owners].filter(([, concerns]) => concerns.length > 1);
      expect(shared).toEqual([]);
      expect(owners.size).toBeGreaterThan(70);
      for (const name of owners.keys()) expect(typeof (storage as unknown as Record<string, unknown>)[name], name).toBe('function');
    } finally {
      await storage.close();
    }
  });

  it('every store gets the dialect, and detached methods still work', async () => {
    const storage = (await openSqliteStorage(':memory:')) as KyselyStorage;
    try {
      for (const store of Object.values(storage.stores)) expect(store.dialect).toBe('sqlite');
      const { createUser, getUser, appendAudit, listAudit } = storage;
      const u = await createUser({ userPrincipalName: 'd@x', email: 'd@x', displayName: 'D' });
      expect(await getUser(u.id)).toEqual(u);
      await appendAudit({ transactionId: null, type: 't', reasonCode: null, actor: 'a', details: {} });
      expect((await listAudit()).map((e) => e.type)).toEqual(['t']);
    } finally {
      await storage.close();
    }
  });

  it('the clock option reaches every store', async () => {
    const at = new Date('2021-02-03T04:05:06.000Z');
    const storage = new KyselyStorage(new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) }), { dialect: 'sqlite', now: () => at });
    try {
      await storage.migrate();
      const u = await storage.createUser({ userPrincipalName: 'c@x', email: 'c@x', displayName: 'C' });
      expect(u.createdAt).toBe(at.toISOString());
      const p = await storage.createProfile(profileSpec());
      expect(p.createdAt).toBe(at.toISOString());
      await storage.appendAudit({ transactionId: null, type: 't', reasonCode: null, actor: null, details: {} });
      expect((await storage.listAudit())[0]!.at).toBe(at.toISOString());
    } finally {
      await storage.close();
    }
  });
});
