import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHousekeeping } from '../../src/core/housekeeping.js';
import { instanceCoordination } from '../../src/core/instance-coordination.js';
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';
import type { Storage } from '../../src/core/storage/storage.js';
import { createLogger } from '../../src/log.js';

// Timed housekeeping (purges, the removal and retirement sweeps) runs on one
// instance of several sharing a database: the holder of the housekeeping lease.

const log = createLogger('silent');
const config = (dataDir: string) => ({ keyStore: 'files' as const, caPassphrase: undefined, dataDir });

describe('housekeeping on several instances', () => {
  let dir: string;
  let storage: Storage;
  const stops: (() => void)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) stop();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs on one instance at a time, and another takes over once the holder stops renewing', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mdmgw-hk-'));
    storage = await openSqliteStorage(join(dir, 'shared.sqlite'));
    const runs = [0, 0, 0];
    // The gateway clock judges lease expiry: held still, so a busy machine's late timers cannot expire a lease.
    let nowMs = Date.parse('2030-01-01T00:00:00.000Z');
    const now = () => new Date(nowMs);
    const start = (i: number) => {
      const instance = instanceCoordination(config(dir), storage, log);
      const hk = startHousekeeping(storage, log, { auditRetentionDays: 90, intervalMs: 40, now, runsHere: instance.runsHousekeeping, sweepRemovals: async () => (runs[i]!++, 0) });
      stops.push(hk.stop);
      return hk;
    };
    const a = start(0);
    start(1);
    start(2);
    await new Promise((r) => setTimeout(r, 600));
    const ran = runs.filter((n) => n > 0);
    expect(ran).toHaveLength(1);
    expect(ran[0]).toBeGreaterThanOrEqual(3);
    // The holder goes away: its lease (1.5 intervals) runs out and one of the others runs it.
    const holder = runs.findIndex((n) => n > 0);
    if (holder === 0) a.stop();
    else stops[holder]!();
    const before = [...runs];
    nowMs += 100; // past the stopped holder's lease (1.5 intervals = 60 ms)
    await new Promise((r) => setTimeout(r, 600));
    const tookOver = runs.map((n, i) => n - before[i]!).filter((d, i) => i !== holder && d > 0);
    expect(tookOver).toHaveLength(1);
  });
});
