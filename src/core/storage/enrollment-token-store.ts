import type { EnrollmentToken } from '../model.js';

// One-time enrollment tokens, per platform; only the SHA-256 is stored.
export interface EnrollmentTokenStore {
  createEnrollmentToken(t: Omit<EnrollmentToken, 'id' | 'createdAt' | 'usedAt'> & { tokenSha256: string }): Promise<EnrollmentToken>;
  /**
   * Spends a token atomically: succeeds once, for its platform, before it expires.
   * Nothing changes when it fails; the reason says why.
   */
  consumeEnrollmentToken(
    tokenSha256: string,
    platform: EnrollmentToken['platform'],
    now: string,
  ): Promise<{ ok: true; token: EnrollmentToken } | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'wrong-platform' }>;

  /** The same verdict as consumeEnrollmentToken, without spending the token. */
  peekEnrollmentToken(
    tokenSha256: string,
    platform: EnrollmentToken['platform'],
    now: string,
  ): Promise<{ ok: true; token: EnrollmentToken } | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'wrong-platform' }>;
}
