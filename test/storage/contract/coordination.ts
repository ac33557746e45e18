import { beforeEach, describe, expect, it } from 'vitest';
import { type Storage } from '../../../src/core/storage/storage.js';

/** The CoordinationStore part of the storage contract (several instances on one database, migration 0014). */
export function coordinationContract(current: () => Storage): void {
  describe('CoordinationStore', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });

    describe('leases', () => {
      const t0 = '2030-01-01T00:00:00.000Z';
      const at = (ms: number) => new Date(Date.parse(t0) + ms).toISOString();

      it('one holder at a time until the lease expires; the holder renews; release frees it', async () => {
        expect(await s.tryLease('housekeeping', 'a', 60_000, t0)).toBe(true);
        expect(await s.tryLease('housekeeping', 'b', 60_000, at(1_000))).toBe(false);
        expect(await s.tryLease('housekeeping', 'a', 60_000, at(30_000))).toBe(true); // renewed to at(90_000)
        expect(await s.tryLease('housekeeping', 'b', 60_000, at(70_000))).toBe(false);
        expect(await s.tryLease('housekeeping', 'b', 60_000, at(90_000))).toBe(true); // expired: taken over
        expect(await s.tryLease('housekeeping', 'a', 60_000, at(91_000))).toBe(false);
        expect(await s.tryLease('other', 'a', 60_000, at(91_000))).toBe(true); // leases are independent
        await s.releaseLease('housekeeping', 'a'); // not a's: nothing happens
        expect(await s.tryLease('housekeeping', 'a', 60_000, at(92_000))).toBe(false);
        await s.releaseLease('housekeeping', 'b');
        expect(await s.tryLease('housekeeping', 'a', 60_000, at(92_000))).toBe(true);
      });

      it('of many concurrent takers exactly one wins', async () => {
        const wins = await Promise.all(Array.from({ length: 10 }, (_, i) => s.tryLease('race', `h${i}`, 60_000, t0)));
        expect(wins.filter(Boolean)).toHaveLength(1);
      });

      it('refuses a non-positive ttl', async () => {
        await expect(s.tryLease('x', 'a', 0, t0)).rejects.toThrow(RangeError);
      });
    });

    describe('key material', () => {
      it('insert-if-absent, then compare-and-set by version', async () => {
        expect(await s.getKeyMaterial('ca.key')).toBeNull();
        expect(await s.putKeyMaterial('ca.key', new Uint8Array([1, 2, 3]), 0)).toBe(1);
        // The loser of a first-start race keeps nothing of its own and reads the winner's.
        expect(await s.putKeyMaterial('ca.key', new Uint8Array([9]), 0)).toBeNull();
        const first = await s.getKeyMaterial('ca.key');
        expect(first).toMatchObject({ name: 'ca.key', version: 1 });
        expect([...first!.value]).toEqual([1, 2, 3]);
        expect(await s.putKeyMaterial('ca.key', new Uint8Array([4]), 1)).toBe(2);
        expect(await s.putKeyMaterial('ca.key', new Uint8Array([5]), 1)).toBeNull(); // stale version
        expect([...(await s.getKeyMaterial('ca.key'))!.value]).toEqual([4]);
        await s.putKeyMaterial('ra.key', new Uint8Array([7]), 0);
        expect((await s.listKeyMaterial()).map((k) => [k.name, k.version])).toEqual([
          ['ca.key', 2],
          ['ra.key', 1],
        ]);
      });

      it('of concurrent first writers exactly one wins', async () => {
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.putKeyMaterial('secrets.key', new Uint8Array([i]), 0)));
        expect(results.filter((r) => r === 1)).toHaveLength(1);
      });
    });

  });
}
