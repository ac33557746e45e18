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

    // ---- lifecycle: revocation triggers (docs/lifecycle.md) ----------------------------
  });
}
