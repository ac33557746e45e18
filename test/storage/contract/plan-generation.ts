import { beforeEach, describe, expect, it } from 'vitest';
import { PLAN_GENERATION_SETTING } from '../../../src/core/storage/plan-generation-store.js';
import { type Storage } from '../../../src/core/storage/storage.js';
import { enrollment, certificate, challenge } from './fixtures.js';

/**
 * The PlanGenerationStore part of the storage contract (migration 0018), and
 * the bumps the issuing and revoking transactions make themselves
 * (core/plan-generation.ts): each advances exactly the devices holding the
 * certificate, and a refused one advances nothing.
 */
export function planGenerationContract(current: () => Storage): void {
  describe('PlanGenerationStore', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });
    const deviceGen = async (id: string) => (await s.getPlanGenerations(id)).device;

    it('reads the global and the device generation together; unknown device: null', async () => {
      const d = await s.createDevice({ name: 'pg', platform: 'android' });
      expect(await s.getPlanGenerations(d.id)).toEqual({ global: null, device: 0 });
      expect(await s.getPlanGenerations('00000000-0000-4000-8000-000000000000')).toEqual({ global: null, device: null });
      await s.putSetting(PLAN_GENERATION_SETTING, 'g-1');
      expect(await s.getPlanGenerations(d.id)).toEqual({ global: 'g-1', device: 0 });
    });

    it('bumps the devices given, each once per call, and ignores unknown ids', async () => {
      const a = await s.createDevice({ name: 'a', platform: 'android' });
      const b = await s.createDevice({ name: 'b', platform: 'android' });
      await s.bumpDevicePlanGenerations([a.id]);
      expect([await deviceGen(a.id), await deviceGen(b.id)]).toEqual([1, 0]);
      await s.bumpDevicePlanGenerations([a.id, a.id, b.id, '00000000-0000-4000-8000-000000000000']);
      expect([await deviceGen(a.id), await deviceGen(b.id)]).toEqual([2, 1]);
      await s.bumpDevicePlanGenerations([]);
      expect(await deviceGen(a.id)).toBe(2);
      // The device record itself is unchanged.
      expect(await s.getDevice(a.id)).toEqual(a);
    });

    it("bumps a user's devices, not the others", async () => {
      const u = await s.createUser({ userPrincipalName: 'pg@x', email: 'pg@x', displayName: 'PG' });
      const mine = await s.createDevice({ name: 'mine', platform: 'ios', userId: u.id });
      const other = await s.createDevice({ name: 'other', platform: 'ios' });
      await s.bumpUserPlanGenerations(u.id);
      expect([await deviceGen(mine.id), await deviceGen(other.id)]).toEqual([1, 0]);
    });

    it('an issued enrollment advances its device in the issuing transaction; pending and refused ones do not', async () => {
      const a = await s.createDevice({ name: 'a', platform: 'android' });
      const b = await s.createDevice({ name: 'b', platform: 'android' });
      expect(await s.recordEnrollment(challenge('pg-1'), enrollment('pg-tx-1', { deviceId: a.id, challengeId: 'pg-1' }), certificate('a001', { deviceId: a.id }))).toEqual({ ok: true });
      expect([await deviceGen(a.id), await deviceGen(b.id)]).toEqual([1, 0]);
      await s.recordEnrollment(challenge('pg-2'), enrollment('pg-tx-2', { deviceId: b.id, status: 'pending', challengeId: 'pg-2' }), null);
      expect(await deviceGen(b.id)).toBe(0);
      expect(await s.completeEnrollment('pg-tx-2', certificate('b001', { deviceId: b.id }))).toBe(true);
      expect([await deviceGen(a.id), await deviceGen(b.id)]).toEqual([1, 1]);
      // Refused (the device is blocked): nothing written, the bump rolled back with it.
      await s.blockDevice(a.id, '2026-02-01T00:00:00.000Z', 'cessationOfOperation');
      const blocked = await deviceGen(a.id);
      expect(await s.recordEnrollment(challenge('pg-3'), enrollment('pg-tx-3', { deviceId: a.id, challengeId: 'pg-3' }), certificate('a002', { deviceId: a.id }))).toEqual({ ok: false, reason: 'device-blocked' });
      expect(await deviceGen(a.id)).toBe(blocked);
    });

    it('every revocation advances the holding devices in its transaction; a refused one advances nothing', async () => {
      const a = await s.createDevice({ name: 'a', platform: 'android' });
      const b = await s.createDevice({ name: 'b', platform: 'android' });
      for (const [serial, d] of [['c1', a], ['c2', a], ['c3', a], ['c4', b]] as const) {
        await s.recordEnrollment(null, enrollment(`pg-${serial}`, { deviceId: d.id }), certificate(serial, { deviceId: d.id }));
      }
      const gens = async () => [await deviceGen(a.id), await deviceGen(b.id)];
      expect(await gens()).toEqual([3, 1]);
      expect((await s.revokeCertificateChain('c1', '2026-02-01T00:00:00.000Z', 'keyCompromise')).ok).toBe(true);
      expect(await gens()).toEqual([4, 1]);
      expect((await s.revokeCertificate('c4', '2026-02-01T00:00:00.000Z', 'superseded')).ok).toBe(true);
      expect(await gens()).toEqual([4, 2]);
      await s.addPendingRemovals([{ serialNumber: 'c2', deviceId: a.id, profileId: 'p' }], '2026-02-01T00:00:00.000Z');
      expect(await s.revokePendingRemoval('c2', '2026-02-02T00:00:00.000Z', 'cessationOfOperation')).toEqual(['c2']);
      expect(await gens()).toEqual([5, 2]);
      expect(await s.revokeCertificate('c4', '2026-02-03T00:00:00.000Z', 'superseded')).toEqual({ ok: false, reason: 'already-revoked' });
      expect(await s.revokeCertificateChain('c1', '2026-02-03T00:00:00.000Z', 'superseded')).toEqual({ ok: false, reason: 'already-revoked' });
      expect(await gens()).toEqual([5, 2]);
    });

    it("a user's revocation advances the device holding the user's certificate, whoever its primary user is now", async () => {
      const u = await s.createUser({ userPrincipalName: 'holder@x', email: 'holder@x', displayName: 'H' });
      const d = await s.createDevice({ name: 'shared', platform: 'android' });
      await s.recordEnrollment(null, enrollment('pg-u1', { deviceId: d.id, userId: u.id }), certificate('u1', { deviceId: d.id, userId: u.id }));
      const before = await deviceGen(d.id);
      expect((await s.updateUser(u.id, { enabled: false }, '2026-02-01T00:00:00.000Z', 'cessationOfOperation')).ok).toBe(true);
      expect(await deviceGen(d.id)).toBe(before! + 1);
    });
  });
}
