import { createHash, randomBytes } from 'node:crypto';
import type { EnrollmentToken, Platform } from './model.js';
import type { EnrollmentTokenStore } from './storage/storage.js';

// One-time enrollment tokens: what an admin hands a user so a device can enroll
// (the Apple enrollment profile URL, the Windows password, the Android agent's
// enroll URL). The token itself is shown once; only its SHA-256 is stored, so a
// database leak cannot enroll anything. It works once, for its platform, until
// it expires.

export const DEFAULT_TOKEN_TTL_MINUTES = 24 * 60;

export type ConsumeFailure = 'unknown' | 'used' | 'expired' | 'wrong-platform';

const sha256 = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

/** 160 bits, base32 (RFC 4648, no padding): easy to type into a Windows password box. */
function newToken(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = randomBytes(20);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/**
 * The token's own verdict. Whether its device may still enroll (deleted,
 * blocked) is asked by core/token-redemption.ts, which has the device at hand.
 */
export type TokenVerdict = { ok: true; token: EnrollmentToken } | { ok: false; reason: ConsumeFailure };

/** Tokens are base32; anything else cannot be one of ours. Case and spaces are forgiven (typed passwords). */
function digestOf(token: string): string | null {
  const normalised = token.trim().toUpperCase();
  return /^[A-Z2-7]{16,64}$/.test(normalised) ? sha256(normalised) : null;
}

export class EnrollmentTokens {
  constructor(
    private readonly storage: EnrollmentTokenStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(args: { platform: Platform; userId: string | null; deviceId: string | null; ttlMinutes?: number }): Promise<{ token: string; record: EnrollmentToken }> {
    const token = newToken();
    const expiresAt = new Date(this.now().getTime() + (args.ttlMinutes ?? DEFAULT_TOKEN_TTL_MINUTES) * 60_000).toISOString();
    const record = await this.storage.createEnrollmentToken({
      tokenSha256: sha256(token),
      platform: args.platform,
      userId: args.userId,
      deviceId: args.deviceId,
      expiresAt,
    });
    return { token, record };
  }

  /** Spends the token for a platform; exactly one caller ever gets ok. */
  async consume(token: string, platform: Platform): Promise<TokenVerdict> {
    const digest = digestOf(token);
    if (!digest) return { ok: false, reason: 'unknown' };
    return this.storage.consumeEnrollmentToken(digest, platform, this.now().toISOString());
  }

  /** The verdict consume() would give, without spending: redemption checks the rest of a request first. */
  async peek(token: string, platform: Platform): Promise<TokenVerdict> {
    const digest = digestOf(token);
    if (!digest) return { ok: false, reason: 'unknown' };
    return this.storage.peekEnrollmentToken(digest, platform, this.now().toISOString());
  }
}
