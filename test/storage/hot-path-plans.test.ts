import { describe, expect, it } from 'vitest';
import { sqlitePlanStore } from '../helpers/sqlite-plans.js';

// Issue 13 at 100,000 devices / 300,000 certificates (migration
// 0017_hot_path_indexes, docs/performance.md "Query plans at scale"): the
// statements below scanned a table that grows with the fleet (devices) or read
// every revoked row from the certificates table and sorted it. SQLite's plan
// does not depend on the row count (no ANALYZE), so an empty store shows it.

const plans = sqlitePlanStore('mdmgw-plans-');

/** EXPLAIN QUERY PLAN of the one captured statement matching `pattern`, as SQLite's detail lines. */
function planOf(pattern: RegExp): string[] {
  const sql = plans.captured.filter((s) => pattern.test(s));
  expect(sql, `one statement matching ${pattern} in ${JSON.stringify(plans.captured)}`).toHaveLength(1);
  return plans.explain(sql[0]!, null);
}

const scans = (plan: string[], table: string) => plan.filter((l) => new RegExp(`^SCAN ${table}\\b`).test(l));

describe('hot-path query plans (0017_hot_path_indexes)', () => {
  it("the reported-name and serial conflict check searches indexes, not every device", async () => {
    await plans.storage.findDevicesByIdentifier('name', ' Laptop-7 ');
    await plans.storage.findDevicesByIdentifier('serialNumber', 'SN-7');
    for (const column of ['name', 'serial_number']) {
      const plan = planOf(new RegExp(`lower\\(trim\\("${column}"\\)\\)`));
      expect(scans(plan, 'devices'), plan.join('; ')).toEqual([]);
      expect(plan.join('; ')).toMatch(/MULTI-INDEX OR/);
    }
  });

  it('the retirement sweep finds retiring devices through an index', async () => {
    await plans.storage.listRetiringDevices(new Date().toISOString());
    const plan = planOf(/"retiring_since" </);
    expect(scans(plan, 'devices'), plan.join('; ')).toEqual([]);
    expect(plan.join('; ')).toMatch(/devices_retiring_since_idx/);
  });

  it("the CRL build reads revoked serials from a covering index in the CRL's order (no table rows, no sort)", async () => {
    await plans.storage.listRevoked('ab'.repeat(20));
    const plan = planOf(/"revocation_reason" from "certificates"/);
    expect(plan.join('; ')).toMatch(/USING COVERING INDEX certificates_crl_idx/);
    expect(plan.join('; ')).not.toMatch(/TEMP B-TREE/);
  });

  it('the identity renewal challenge purge does not scan its table', async () => {
    await plans.storage.purgeExpiredChallenges(new Date().toISOString());
    const plan = planOf(/delete from "identity_renewal_challenges"/);
    expect(scans(plan, 'identity_renewal_challenges'), plan.join('; ')).toEqual([]);
  });
});
