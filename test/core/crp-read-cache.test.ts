import { describe, expect, it } from 'vitest';
import { CrpReadCache, type ReadStamp } from '../../src/core/crp/read-cache.js';
import type { Device } from '../../src/core/model.js';

// The CRP's read cache (src/core/crp/read-cache.ts) on its own: what a key
// holds for, and when an issuance carries a device's entry to the generation
// its own bump made. The end-to-end proofs (each change seen at the next
// enrollment) are in test/e2e/crp-read-cache.test.ts.

const device = { id: 'd-1', name: 'd', userId: null } as unknown as Device;
const stamp = (deviceGen: number | null, global: string | null = 'g', deviceId: string | null = 'd-1'): ReadStamp => ({ deviceId, generations: { global, device: deviceGen } });

function counting() {
  let reads = 0;
  return { read: async () => (reads++, device), reads: () => reads };
}

describe('CrpReadCache', () => {
  it('keeps a device read under its generations and reads again when either moves', async () => {
    const c = new CrpReadCache();
    const r = counting();
    await c.device(stamp(3), 'd-1', r.read);
    await c.device(stamp(3), 'd-1', r.read);
    expect(r.reads()).toBe(1);
    await c.device(stamp(4), 'd-1', r.read); // the device's generation moved
    await c.device(stamp(4, 'h'), 'd-1', r.read); // the global one moved
    expect(r.reads()).toBe(3);
  });

  it('reads, and keeps nothing, for a device the generations were not read for, or one with no generation', async () => {
    const c = new CrpReadCache();
    const r = counting();
    await c.device(stamp(3, 'g', 'other'), 'd-1', r.read);
    await c.device(stamp(3, 'g', 'other'), 'd-1', r.read);
    await c.device(stamp(null), 'd-1', r.read);
    await c.device(stamp(null), 'd-1', r.read);
    expect(r.reads()).toBe(4);
  });

  it("an issuance's own bump (one step) carries the entry; two steps (another write came between) do not", async () => {
    const c = new CrpReadCache();
    const r = counting();
    await c.device(stamp(3), 'd-1', r.read);
    c.noteIssued('d-1', 4);
    await c.device(stamp(4), 'd-1', r.read);
    expect(r.reads()).toBe(1);
    c.noteIssued('d-1', 6); // 4 -> 6: something else advanced it too
    await c.device(stamp(6), 'd-1', r.read);
    expect(r.reads()).toBe(2);
  });

  it('the local epoch (a bump this instance could not write) drops every key', async () => {
    let epoch = 0;
    const c = new CrpReadCache(() => epoch);
    const r = counting();
    const profileReads = { n: 0 };
    const readProfile = async () => (profileReads.n++, null);
    await c.device(stamp(1), 'd-1', r.read);
    await c.profile(stamp(1), 'p', undefined, readProfile);
    epoch = 1;
    await c.device(stamp(1), 'd-1', r.read);
    await c.profile(stamp(1), 'p', undefined, readProfile);
    expect([r.reads(), profileReads.n]).toEqual([2, 2]);
  });

  it('keeps a profile per version under the global generation only (any device)', async () => {
    const c = new CrpReadCache();
    let n = 0;
    const read = async () => (n++, null);
    await c.profile(stamp(1), 'p', undefined, read);
    await c.profile(stamp(9, 'g', 'd-2'), 'p', undefined, read);
    await c.profile(stamp(1), 'p', 2, read);
    expect(n).toBe(2);
    await c.profile(stamp(1, 'h'), 'p', undefined, read);
    expect(n).toBe(3);
  });
});
