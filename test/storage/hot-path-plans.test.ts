import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';
import type { Storage } from '../../src/core/storage/storage.js';

// Issue 13 at 100,000 devices / 300,000 certificates (migration
// 0017_hot_path_indexes, docs/performance.md "Query plans at scale"): the
// statements below scanned a table that grows with the fleet (devices) or read
// every revoked row from the certificates table and sorted it. SQLite's plan
// does not depend on the row count (no ANALYZE), so an empty store shows it.

let dir: string;
let storage: Storage;
let captured: string[];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-plans-'));
  storage = await openSqliteStorage(path.join(dir, 'mdmgw.sqlite'));
  captured = [];
  const prepare = BetterSqlite3.prototype.prepare;
  vi.spyOn(BetterSqlite3.prototype, 'prepare').mockImplementation(function (this: BetterSqlite3.Database, sql: string) {
    captured.push(sql);
    return prepare.call(this, sql);
  });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await storage.close();
  await rm(dir, { recursive: true, force: true });
});

/** EXPLAIN QUERY PLAN of the one captured statement matching `pattern`, as SQLite's detail lines. */
function planOf(pattern: RegExp): string[] {
  const sql = captured.filter((s) => pattern.test(s));
  expect(sql, `one statement matching ${pattern} in ${JSON.stringify(captured)}`).toHaveLength(1);
  const db = new BetterSqlite3(path.join(dir, 'mdmgw.sqlite'), { readonly: true });
  try {
    const params = Array((sql[0]!.match(/\?/g) ?? []).length).fill(null);
    return (db.prepare(`EXPLAIN QUERY PLAN ${sql[0]}`).all(...params) as { detail: string }[]).map((r) => r.detail);
  } finally {
    db.close();
  }
}

const scans = (plan: string[], table: string) => plan.filter((l) => new RegExp(`^SCAN ${table}\\b`).test(l));

describe('hot-path query plans (0017_hot_path_indexes)', () => {
  it("the reported-name and serial conflict check searches indexes, not every device", async () => {
    await storage.findDevicesByIdentifier('name', ' Laptop-7 ');
    await storage.findDevicesByIdentifier('serialNumber', 'SN-7');
    for (const column of ['name', 'serial_number']) {
      const plan = planOf(new RegExp(`lower\\(trim\\("${column}"\\)\\)`));
      expect(scans(plan, 'devices'), plan.join('; ')).toEqual([]);
      expect(plan.join('; ')).toMatch(/MULTI-INDEX OR/);
    }
  });

  it('the retirement sweep finds retiring devices through an index', async () => {
    await storage.listRetiringDevices(new Date().toISOString());
    const plan = planOf(/"retiring_since" </);
    expect(scans(plan, 'devices'), plan.join('; ')).toEqual([]);
    expect(plan.join('; ')).toMatch(/devices_retiring_since_idx/);
  });

  it("the CRL build reads revoked serials from a covering index in the CRL's order (no table rows, no sort)", async () => {
    await storage.listRevoked('ab'.repeat(20));
    const plan = planOf(/"revocation_reason" from "certificates"/);
    expect(plan.join('; ')).toMatch(/USING COVERING INDEX certificates_crl_idx/);
    expect(plan.join('; ')).not.toMatch(/TEMP B-TREE/);
  });

  it('the identity renewal challenge purge does not scan its table', async () => {
    await storage.purgeExpiredChallenges(new Date().toISOString());
    const plan = planOf(/delete from "identity_renewal_challenges"/);
    expect(scans(plan, 'identity_renewal_challenges'), plan.join('; ')).toEqual([]);
  });
});
