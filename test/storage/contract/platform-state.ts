import { beforeEach, describe, expect, it } from 'vitest';
import { type Storage } from '../../../src/core/storage/storage.js';
import { expectStorageError } from './fixtures.js';

/** The PlatformStateStore part of the storage contract; `current` is the fresh storage of the running test. */
export function platformStateContract(current: () => Storage): void {
  describe('PlatformStateStore', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });

    describe('platform state and settings', () => {
      it('store JSON per device and adapter, and replace it', async () => {
        const d = await s.createDevice({ name: 'phone', platform: 'ios' });
        expect(await s.getPlatformState(d.id, 'apple')).toBeNull();
        await s.putPlatformState(d.id, 'apple', { token: 'abc', pushMagic: 'm', nested: { ok: true } });
        await s.putPlatformState(d.id, 'apple', { token: 'def' });
        expect(await s.getPlatformState(d.id, 'apple')).toEqual({ token: 'def' });
        expect(await s.getPlatformState(d.id, 'windows')).toBeNull();
        await expectStorageError(s.putPlatformState('00000000-0000-4000-8000-000000000000', 'apple', {}), 'not-found');
        expect(await s.getSetting('apple.push')).toBeNull();
        await s.putSetting('apple.push', 'one');
        await s.putSetting('apple.push', 'two');
        expect(await s.getSetting('apple.push')).toBe('two');
      });
    });

    describe('versioned platform state', () => {
      it('compare-and-set: a writer holding an old version loses and reads again', async () => {
        const d = await s.createDevice({ name: 'phone', platform: 'ios' });
        expect(await s.getPlatformStateVersioned(d.id, 'apple')).toEqual({ state: null, version: 0 });
        expect(await s.putPlatformStateIfVersion(d.id, 'apple', { n: 1 }, 0)).toBe(true);
        expect(await s.putPlatformStateIfVersion(d.id, 'apple', { n: 99 }, 0)).toBe(false);
        const v1 = await s.getPlatformStateVersioned(d.id, 'apple');
        expect(v1).toEqual({ state: { n: 1 }, version: 1 });
        // An unconditional write moves the version too, so CAS writers notice it.
        await s.putPlatformState(d.id, 'apple', { n: 2 });
        expect(await s.putPlatformStateIfVersion(d.id, 'apple', { n: 3 }, v1.version)).toBe(false);
        const v2 = await s.getPlatformStateVersioned(d.id, 'apple');
        expect(v2).toEqual({ state: { n: 2 }, version: 2 });
        expect(await s.putPlatformStateIfVersion(d.id, 'apple', { n: 3 }, v2.version)).toBe(true);
        expect(await s.getPlatformState(d.id, 'apple')).toEqual({ n: 3 });
        await expectStorageError(s.putPlatformStateIfVersion('00000000-0000-4000-8000-000000000000', 'apple', {}, 0), 'not-found');
      });

      it('concurrent read-modify-write loops lose no increment', async () => {
        const d = await s.createDevice({ name: 'pc', platform: 'windows' });
        const increment = async () => {
          for (;;) {
            const { state, version } = await s.getPlatformStateVersioned(d.id, 'windows');
            const n = ((state?.n as number | undefined) ?? 0) + 1;
            if (await s.putPlatformStateIfVersion(d.id, 'windows', { n }, version)) return;
          }
        };
        await Promise.all(Array.from({ length: 10 }, increment));
        expect(await s.getPlatformState(d.id, 'windows')).toEqual({ n: 10 });
      });
    });

    // ---- lifecycle: revocation triggers (docs/lifecycle.md) ----------------------------
  });
}
