import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStorage } from '../../src/core/storage/postgres.js';
import { openStorage } from '../../src/core/storage/index.js';
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
  });
}
