import { beforeEach, describe, expect, it } from 'vitest';
import { type Storage } from '../../../src/core/storage/storage.js';

/** The EnrollmentTokenStore part of the storage contract; `current` is the fresh storage of the running test. */
export function enrollmentTokensContract(current: () => Storage): void {
  describe('EnrollmentTokenStore', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });

    describe('enrollment tokens', () => {
      const sha = (c: string) => c.repeat(64);
      it('spend once, for their platform, before expiry; say why otherwise', async () => {
        const t = await s.createEnrollmentToken({ tokenSha256: sha('a'), platform: 'ios', userId: 'u-1', deviceId: null, expiresAt: '2030-01-01T00:00:00.000Z' });
        expect(t).toMatchObject({ platform: 'ios', userId: 'u-1', usedAt: null });
        expect(await s.consumeEnrollmentToken(sha('a'), 'android', '2029-01-01T00:00:00.000Z')).toEqual({ ok: false, reason: 'wrong-platform' });
        // Peeking says what consuming would, and spends nothing.
        expect(await s.peekEnrollmentToken(sha('a'), 'ios', '2029-01-01T00:00:00.000Z')).toMatchObject({ ok: true, token: { id: t.id } });
        expect(await s.peekEnrollmentToken(sha('a'), 'ios', '2031-01-01T00:00:00.000Z')).toEqual({ ok: false, reason: 'expired' });
        expect(await s.peekEnrollmentToken(sha('a'), 'android', '2029-01-01T00:00:00.000Z')).toEqual({ ok: false, reason: 'wrong-platform' });
        expect(await s.consumeEnrollmentToken(sha('a'), 'ios', '2031-01-01T00:00:00.000Z')).toEqual({ ok: false, reason: 'expired' });
        const ok = await s.consumeEnrollmentToken(sha('a'), 'ios', '2029-01-01T00:00:00.000Z');
        expect(ok.ok && ok.token.id).toBe(t.id);
        expect(await s.consumeEnrollmentToken(sha('a'), 'ios', '2029-01-01T00:00:01.000Z')).toEqual({ ok: false, reason: 'used' });
        expect(await s.peekEnrollmentToken(sha('a'), 'ios', '2029-01-01T00:00:01.000Z')).toEqual({ ok: false, reason: 'used' });
        expect(await s.consumeEnrollmentToken(sha('b'), 'ios', '2029-01-01T00:00:00.000Z')).toEqual({ ok: false, reason: 'unknown' });
      });

      it('let exactly one of 20 concurrent spends win', async () => {
        await s.createEnrollmentToken({ tokenSha256: sha('c'), platform: 'windows', userId: null, deviceId: null, expiresAt: '2030-01-01T00:00:00.000Z' });
        const results = await Promise.all(Array.from({ length: 20 }, () => s.consumeEnrollmentToken(sha('c'), 'windows', '2029-01-01T00:00:00.000Z')));
        expect(results.filter((r) => r.ok)).toHaveLength(1);
      });
    });
  });
}
