import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStorage } from '../../src/core/storage/postgres.js';
import { openStorage } from '../../src/core/storage/index.js';
import { KyselyStorage } from '../../src/core/storage/kysely-storage.js';
import { migrations } from '../../src/core/storage/migrations.js';
import { sql } from 'kysely';
import { dropAllPostgresDatabases, freshPostgresDatabase, pgSkipReason, truncateAllTables, type TestDatabase } from '../helpers/postgres.js';
import { storageContract } from './contract.js';

// The storage contract on PostgreSQL, on a database of this file's own on the
// cluster MDMGW_TEST_PG_URL names (CI starts one in .ci/run; locally
// `.ci/pg-cluster.sh start DIR`), emptied before every test (CREATE DATABASE per
// test costs about a second each). Without the variable this file skips, saying why.

const skip = pgSkipReason();
if (skip) {
  console.log(skip);
  describe.skip(`postgres backend: ${skip}`, () => {
    it('needs MDMGW_TEST_PG_URL', () => {});
  });
} else {
  let shared: TestDatabase;
  beforeAll(async () => {
    shared = await freshPostgresDatabase();
  });
  afterAll(dropAllPostgresDatabases);

  storageContract('postgres', async () => {
    const storage = await openPostgresStorage(shared.url);
    await truncateAllTables(shared.url);
    return storage;
  });

  describe('postgres backend', () => {
    it('openStorage opens a postgres:// URL', async () => {
      const db = await freshPostgresDatabase();
      const storage = await openStorage(db.url, '/nonexistent-data-dir');
      try {
        expect(await storage.pendingMigrations()).toEqual([]);
        expect((await storage.createGroup('g')).name).toBe('g');
      } finally {
        await storage.close();
      }
    });

    it('six instances opening an empty database at once migrate it exactly once (advisory lock)', async () => {
      const db = await freshPostgresDatabase();
      const opened = await Promise.allSettled(Array.from({ length: 6 }, () => openPostgresStorage(db.url)));
      const stores = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      try {
        expect(opened.filter((r) => r.status === 'rejected')).toEqual([]);
        for (const s of stores) expect(await s.pendingMigrations()).toEqual([]);
        const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute((stores[0] as KyselyStorage).db);
        expect(rows.map((r) => r.name)).toEqual(Object.keys(migrations('postgres')).sort());
        // Every instance works on the one schema.
        await Promise.all(stores.map((s, i) => s.createGroup(`g${i}`)));
        expect((await stores[0]!.listGroups()).length).toBe(6);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    it('reads int8 and count() as numbers, bytea as bytes', async () => {
      const storage = (await openPostgresStorage(shared.url)) as KyselyStorage;
      try {
        const { rows } = await sql<{ n: unknown; b: unknown }>`select count(*) as n, '\\x0102ff'::bytea as b`.execute(storage.db);
        expect(typeof rows[0]!.n).toBe('number');
        expect([...(rows[0]!.b as Uint8Array)]).toEqual([1, 2, 255]);
      } finally {
        await storage.close();
      }
    });
  });
}
