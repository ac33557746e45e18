import { beforeEach, describe, expect, it } from 'vitest';
import { type Storage } from '../../../src/core/storage/storage.js';
import { expectStorageError, isIso, enrollment, certificate } from './fixtures.js';

/** The DeliveryStore part of the storage contract; `current` is the fresh storage of the running test. */
export function deliveriesContract(current: () => Storage): void {
  describe('DeliveryStore', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });

    describe('delivery status', () => {
      it('keeps the latest report per device and profile, and matches thumbprints', async () => {
        const d = await s.createDevice({ name: 'd1', platform: 'windows' });
        const base = { deviceId: d.id, profileId: 'p-1', profileVersion: 1, thumbprint: null, certificateSerial: null, errorCode: null, detail: null };
        const first = await s.putDeliveryStatus({ ...base, state: 'pending' });
        expect(isIso(first.updatedAt)).toBe(true);
        await s.putDeliveryStatus({ ...base, profileVersion: 2, state: 'failed', errorCode: '0x80090016' });
        await s.putDeliveryStatus({ ...base, profileId: 'p-2', state: 'installed', thumbprint: 'AA'.repeat(20) });
        const list = await s.listDeliveryStatus({ deviceId: d.id });
        expect(list).toHaveLength(2);
        expect(list.find((x) => x.profileId === 'p-1')).toMatchObject({ state: 'failed', profileVersion: 2, errorCode: '0x80090016' });
        expect(await s.listDeliveryStatus({ profileId: 'p-2' })).toEqual([expect.objectContaining({ state: 'installed', thumbprint: 'AA'.repeat(20) })]);
        await expectStorageError(s.putDeliveryStatus({ ...base, deviceId: '00000000-0000-4000-8000-000000000000', state: 'pending' }), 'not-found');
      });

      it('putDeliveryStatuses writes several statuses and their device.report audit records together, or nothing', async () => {
        const d = await s.createDevice({ name: 'd1', platform: 'windows' });
        const base = { deviceId: d.id, profileVersion: 1, thumbprint: null, certificateSerial: null, errorCode: null, detail: null };
        const actor = `device:${d.id}`;
        const stored = await s.putDeliveryStatuses([
          { status: { ...base, profileId: 'p-1', state: 'pending' }, actor },
          { status: { ...base, profileId: 'p-2', state: 'pending' }, actor },
          { status: { ...base, profileId: 'p-1', state: 'enrolling', detail: 'later wins' }, actor },
        ]);
        expect(stored.map((x) => [x.profileId, x.state])).toEqual([['p-1', 'pending'], ['p-2', 'pending'], ['p-1', 'enrolling']]);
        expect(isIso(stored[0]!.updatedAt)).toBe(true);
        const list = await s.listDeliveryStatus({ deviceId: d.id });
        expect(list.map((x) => [x.profileId, x.state, x.detail]).sort()).toEqual([['p-1', 'enrolling', 'later wins'], ['p-2', 'pending', null]]);
        const audit = (await s.listAudit({ type: 'device.report' })).filter((e) => e.actor === actor);
        expect(audit).toHaveLength(3);
        // Each record is its status as stored (the same on SQLite and PostgreSQL, whatever the id order).
        const key = (x: unknown) => JSON.stringify(x);
        expect(audit.map((e) => key(e.details)).sort()).toEqual(stored.map((x) => key({ ...x })).sort());
        expect(await s.putDeliveryStatuses([])).toEqual([]);
        // An unknown device in the batch: not-found, and nothing of the batch is written.
        const before = (await s.listAudit({ type: 'device.report' })).length;
        await expectStorageError(
          s.putDeliveryStatuses([
            { status: { ...base, profileId: 'p-3', state: 'pending' }, actor },
            { status: { ...base, deviceId: '00000000-0000-4000-8000-000000000000', profileId: 'p-3', state: 'pending' }, actor },
          ]),
          'not-found',
        );
        expect((await s.listDeliveryStatus({ deviceId: d.id })).map((x) => x.profileId).sort()).toEqual(['p-1', 'p-2']);
        expect((await s.listAudit({ type: 'device.report' })).length).toBe(before);
      });

      it('putDeliveryStatusesWithState writes the statuses, their audit records and the state compare-and-set together, or nothing on a version conflict', async () => {
        const d = await s.createDevice({ name: 'd1', platform: 'windows' });
        const base = { deviceId: d.id, profileVersion: 1, thumbprint: null, certificateSerial: null, errorCode: null, detail: null };
        const actor = `device:${d.id}`;
        const reports = () => s.listAudit({ type: 'device.report' }).then((a) => a.filter((e) => e.actor === actor));
        // No state yet: expected version 0 inserts it.
        const first = await s.putDeliveryStatusesWithState([{ status: { ...base, profileId: 'p-1', state: 'pending' }, actor }], { deviceId: d.id, adapter: 'windows', state: { n: 1 }, expectedVersion: 0 });
        expect(first?.map((x) => [x.profileId, x.state])).toEqual([['p-1', 'pending']]);
        expect(await s.getPlatformStateVersioned(d.id, 'windows')).toEqual({ state: { n: 1 }, version: 1 });
        expect(await reports()).toHaveLength(1);
        // A stale version (another writer got there first): null, and neither the state nor any status or audit record is written.
        expect(
          await s.putDeliveryStatusesWithState([{ status: { ...base, profileId: 'p-1', state: 'enrolling' }, actor }, { status: { ...base, profileId: 'p-2', state: 'pending' }, actor }], {
            deviceId: d.id,
            adapter: 'windows',
            state: { n: 'stale' },
            expectedVersion: 0,
          }),
        ).toBeNull();
        expect(await s.getPlatformStateVersioned(d.id, 'windows')).toEqual({ state: { n: 1 }, version: 1 });
        expect((await s.listDeliveryStatus({ deviceId: d.id })).map((x) => [x.profileId, x.state])).toEqual([['p-1', 'pending']]);
        expect(await reports()).toHaveLength(1);
        // The current version: all written, the version moves on.
        const next = await s.putDeliveryStatusesWithState([{ status: { ...base, profileId: 'p-1', state: 'enrolling' }, actor }], { deviceId: d.id, adapter: 'windows', state: { n: 2 }, expectedVersion: 1 });
        expect(next?.map((x) => x.state)).toEqual(['enrolling']);
        expect(await s.getPlatformStateVersioned(d.id, 'windows')).toEqual({ state: { n: 2 }, version: 2 });
        expect((await s.listDeliveryStatus({ deviceId: d.id })).map((x) => x.state)).toEqual(['enrolling']);
        expect(await reports()).toHaveLength(2);
        // No reports: the state alone, compare-and-set as putPlatformStateIfVersion.
        expect(await s.putDeliveryStatusesWithState([], { deviceId: d.id, adapter: 'windows', state: { n: 3 }, expectedVersion: 2 })).toEqual([]);
        expect(await s.putDeliveryStatusesWithState([], { deviceId: d.id, adapter: 'windows', state: { n: 'stale' }, expectedVersion: 2 })).toBeNull();
        expect(await s.getPlatformStateVersioned(d.id, 'windows')).toEqual({ state: { n: 3 }, version: 3 });
      });

      it('counts (device, profile) pairs per state, every state present', async () => {
        expect(await s.countDeliveryStates()).toEqual({ pending: 0, enrolling: 0, installed: 0, failed: 0, removed: 0 });
        const d1 = await s.createDevice({ name: 'd1', platform: 'windows' });
        const d2 = await s.createDevice({ name: 'd2', platform: 'ios' });
        const base = { profileVersion: 1, thumbprint: null, certificateSerial: null, errorCode: null, detail: null };
        await s.putDeliveryStatus({ ...base, deviceId: d1.id, profileId: 'p-1', state: 'installed' });
        await s.putDeliveryStatus({ ...base, deviceId: d2.id, profileId: 'p-1', state: 'installed' });
        await s.putDeliveryStatus({ ...base, deviceId: d1.id, profileId: 'p-2', state: 'pending' });
        await s.putDeliveryStatus({ ...base, deviceId: d1.id, profileId: 'p-2', state: 'failed' }); // replaces, not adds
        expect(await s.countDeliveryStates()).toEqual({ pending: 0, enrolling: 0, installed: 2, failed: 1, removed: 0 });
      });

      it('finds an issued certificate by thumbprint, case-insensitively', async () => {
        const c = certificate('0badc0de');
        const ok = await s.recordEnrollment(null, enrollment('tx-thumb', { status: 'issued' }), { ...c, transactionId: 'tx-thumb' });
        expect(ok.ok).toBe(true);
        expect((await s.findCertificateByThumbprint(c.thumbprint.toLowerCase()))?.serialNumber).toBe('0badc0de');
        expect(await s.findCertificateByThumbprint('FF'.repeat(20))).toBeNull();
      });
    });
  });
}
