import { beforeEach, describe, expect, it } from 'vitest';
import { type Storage } from '../../../src/core/storage/storage.js';
import { isIso } from './fixtures.js';

/** The AuditStore part of the storage contract; `current` is the fresh storage of the running test. */
export function auditContract(current: () => Storage): void {
  describe('AuditStore', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });

    describe('audit', () => {
      it('appends and lists in order with defaults', async () => {
        await s.appendAudit({ transactionId: 'tx-1', type: 'scep.received', reasonCode: null, actor: 'scep', details: { size: 1234 } });
        await s.appendAudit({
          transactionId: 'tx-1',
          type: 'crp.check.failed',
          reasonCode: 'CHALLENGE_MALFORMED',
          actor: 'scep',
          details: { nested: { list: [1, 'two', true, null] }, ok: false },
          at: '2020-01-01T00:00:00Z',
        });
        await s.appendAudit({ transactionId: null, type: 'admin.profile.created', reasonCode: null, actor: 'admin', details: {} });

        const all = await s.listAudit();
        expect(all.map((e) => e.type)).toEqual(['scep.received', 'crp.check.failed', 'admin.profile.created']);
        expect(all[0]!.id).toBeTypeOf('number');
        expect(all[0]!.id).toBeLessThan(all[1]!.id);
        expect(all[1]!.id).toBeLessThan(all[2]!.id);
        expect(isIso(all[0]!.at)).toBe(true);
        // Append order, not timestamp order: the explicit old `at` stays second.
        expect(all[1]!.at).toBe('2020-01-01T00:00:00.000Z');
        expect(all[0]).toMatchObject({ transactionId: 'tx-1', reasonCode: null, actor: 'scep', details: { size: 1234 } });
        expect(all[1]).toMatchObject({
          reasonCode: 'CHALLENGE_MALFORMED',
          details: { nested: { list: [1, 'two', true, null] }, ok: false },
        });
        expect(all[2]).toMatchObject({ transactionId: null, actor: 'admin', details: {} });
      });

      it('bounds what it stores: long strings, lists and whole details are cut with a visible marker', async () => {
        await s.appendAudit({
          transactionId: 't'.repeat(1000),
          type: 'windows.enrollment.refused',
          reasonCode: 'ENROLLMENT_TOKEN_INVALID',
          actor: 'a'.repeat(300),
          details: { upn: 'u'.repeat(500_000), list: Array.from({ length: 1000 }, (_, i) => i) },
        });
        await s.appendAudit({ transactionId: null, type: 'x', reasonCode: null, actor: null, details: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, 'y'.repeat(500)])) });
        const [first, second] = await s.listAudit();
        expect(first!.transactionId).toBe(`${'t'.repeat(256)}…(truncated, 1000 bytes)`);
        expect(first!.actor).toBe(`${'a'.repeat(256)}…(truncated, 300 bytes)`);
        expect(first!.details.upn).toBe(`${'u'.repeat(512)}…(truncated, 500000 bytes)`);
        expect(first!.details.list).toHaveLength(33);
        expect(Buffer.byteLength(JSON.stringify(first!.details))).toBeLessThan(2048);
        expect(second!.details).toMatchObject({ truncated: true });
        expect(Buffer.byteLength(JSON.stringify(second!.details))).toBeLessThanOrEqual(8 * 1024);
      });

      it('purgeAudit deletes events older than the given time, and only those', async () => {
        await s.appendAudit({ transactionId: null, type: 'old', reasonCode: null, actor: null, details: {}, at: '2020-01-01T00:00:00Z' });
        await s.appendAudit({ transactionId: null, type: 'edge', reasonCode: null, actor: null, details: {}, at: '2020-02-01T00:00:00Z' });
        await s.appendAudit({ transactionId: null, type: 'new', reasonCode: null, actor: null, details: {} });
        expect(await s.purgeAudit('2020-02-01T00:00:00Z')).toBe(1);
        expect((await s.listAudit()).map((e) => e.type)).toEqual(['edge', 'new']);
        expect(await s.purgeAudit('2020-02-01T00:00:00.001Z')).toBe(1);
        expect((await s.listAudit()).map((e) => e.type)).toEqual(['new']);
        await expect(s.purgeAudit('not a time')).rejects.toThrow(RangeError);
      });

      it('filters by transaction and type, and limits to the newest events', async () => {
        for (let i = 0; i < 6; i++) {
          await s.appendAudit({
            transactionId: i % 2 === 0 ? 'tx-even' : 'tx-odd',
            type: i < 3 ? 'scep.received' : 'ca.issued',
            reasonCode: null,
            actor: 'scep',
            details: { i },
          });
        }
        const idx = (list: { details: Record<string, unknown> }[]) => list.map((e) => e.details['i']);
        expect(idx(await s.listAudit({ transactionId: 'tx-even' }))).toEqual([0, 2, 4]);
        expect(idx(await s.listAudit({ type: 'ca.issued' }))).toEqual([3, 4, 5]);
        expect(idx(await s.listAudit({ transactionId: 'tx-odd', type: 'scep.received' }))).toEqual([1]);
        expect(idx(await s.listAudit({ limit: 2 }))).toEqual([4, 5]);
        expect(idx(await s.listAudit({ transactionId: 'tx-even', limit: 2 }))).toEqual([2, 4]);
        expect(idx(await s.listAudit({ limit: 100 }))).toEqual([0, 1, 2, 3, 4, 5]);
        expect(await s.listAudit({ limit: 0 })).toEqual([]);
        expect(await s.listAudit({ transactionId: 'none' })).toEqual([]);
      });

      it('walks back from the newest with beforeId, filters kept', async () => {
        for (let i = 0; i < 7; i++) {
          await s.appendAudit({ transactionId: null, type: i % 3 === 0 ? 'admin.a' : 'admin.b', reasonCode: null, actor: 'admin', details: { i } });
        }
        const idx = (list: { details: Record<string, unknown> }[]) => list.map((e) => e.details['i']);
        const newest = await s.listAudit({ limit: 3 });
        expect(idx(newest)).toEqual([4, 5, 6]);
        const older = await s.listAudit({ limit: 3, beforeId: newest[0]!.id });
        expect(idx(older)).toEqual([1, 2, 3]);
        expect(idx(await s.listAudit({ limit: 3, beforeId: older[0]!.id }))).toEqual([0]);
        expect(idx(await s.listAudit({ type: 'admin.b', limit: 2, beforeId: newest[0]!.id }))).toEqual([1, 2]);
        expect(await s.listAudit({ limit: 3, beforeId: 1 })).toEqual([]);
        await expect(s.listAudit({ limit: 3, beforeId: 1.5 })).rejects.toThrow(RangeError);
      });
    });
  });
}
