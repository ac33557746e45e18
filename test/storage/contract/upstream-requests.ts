import { beforeEach, describe, expect, it } from 'vitest';
import { type Storage } from '../../../src/core/storage/storage.js';

/** The UpstreamRequestStore part of the storage contract (enrollments an upstream CA left PENDING). */
export function upstreamRequestsContract(current: () => Storage): void {
  describe('UpstreamRequestStore', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });

    const at = (m: number) => new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString();
    const req = (t: string, next: string) => ({ transactionId: t, upstream: 'corp-ca', state: { upstreamTransactionId: `u-${t}` }, createdAt: at(0), nextPollAt: next });

    it('lists only what is due, oldest first, at most limit', async () => {
      await s.addUpstreamRequest(req('tx-b', at(5)));
      await s.addUpstreamRequest(req('tx-a', at(2)));
      await s.addUpstreamRequest(req('tx-later', at(30)));
      const due = await s.listDueUpstreamRequests(at(10), 10);
      expect(due.map((r) => r.transactionId)).toEqual(['tx-a', 'tx-b']);
      expect(due[0]).toEqual({ transactionId: 'tx-a', upstream: 'corp-ca', state: { upstreamTransactionId: 'u-tx-a' }, createdAt: at(0), nextPollAt: at(2), attempts: 0, lastError: null });
      expect((await s.listDueUpstreamRequests(at(10), 1)).map((r) => r.transactionId)).toEqual(['tx-a']);
      expect(await s.listDueUpstreamRequests(at(1), 10)).toEqual([]);
    });

    it('reschedules (counting attempts, keeping the last error) and removes', async () => {
      await s.addUpstreamRequest(req('tx-1', at(1)));
      await s.rescheduleUpstreamRequest('tx-1', at(20), 'connection refused');
      expect(await s.listDueUpstreamRequests(at(10), 10)).toEqual([]);
      await s.rescheduleUpstreamRequest('tx-1', at(20), null);
      const [r] = await s.listDueUpstreamRequests(at(20), 10);
      expect(r).toMatchObject({ transactionId: 'tx-1', attempts: 2, lastError: null, nextPollAt: at(20) });
      await s.removeUpstreamRequest('tx-1');
      expect(await s.listDueUpstreamRequests(at(60), 10)).toEqual([]);
    });

    it('a second request for the same transaction replaces the first', async () => {
      await s.addUpstreamRequest(req('tx-1', at(1)));
      await s.rescheduleUpstreamRequest('tx-1', at(2), 'timeout');
      await s.addUpstreamRequest({ ...req('tx-1', at(3)), state: { upstreamTransactionId: 'second' } });
      const all = await s.listDueUpstreamRequests(at(60), 10);
      expect(all).toHaveLength(1);
      expect(all[0]).toMatchObject({ state: { upstreamTransactionId: 'second' }, attempts: 0, lastError: null, nextPollAt: at(3) });
    });
  });
}
