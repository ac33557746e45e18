import { randomUUID } from 'node:crypto';
import type { EnrollmentToken, Platform } from '../../model.js';
import type { EnrollmentTokenStore } from '../enrollment-token-store.js';
import type { EnrollmentTokensTable } from '../schema.js';
import { KyselyStore } from './support.js';

// One-time enrollment tokens: only the SHA-256 is stored; spending is one
// conditional UPDATE so two devices racing for a token cannot both win.

type Selectable<T> = { [K in keyof T]: T[K] };

function tokenOf(r: Selectable<EnrollmentTokensTable>): EnrollmentToken {
  return {
    id: r.id,
    platform: r.platform as Platform,
    userId: r.user_id,
    deviceId: r.device_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    usedAt: r.used_at,
  };
}

export class KyselyEnrollmentTokenStore extends KyselyStore implements EnrollmentTokenStore {
  async createEnrollmentToken(t: Omit<EnrollmentToken, 'id' | 'createdAt' | 'usedAt'> & { tokenSha256: string }): Promise<EnrollmentToken> {
    const row = {
      id: randomUUID(),
      token_sha256: t.tokenSha256,
      platform: t.platform,
      user_id: t.userId,
      device_id: t.deviceId,
      created_at: this.stamp(),
      expires_at: new Date(t.expiresAt).toISOString(),
      used_at: null,
    };
    await this.db.insertInto('enrollment_tokens').values(row).execute();
    return tokenOf(row);
  }

  async consumeEnrollmentToken(
    tokenSha256: string,
    platform: Platform,
    now: string,
  ): Promise<{ ok: true; token: EnrollmentToken } | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'wrong-platform' }> {
    const at = new Date(now).toISOString();
    // One conditional UPDATE: two devices racing for one token cannot both win.
    const spent = await this.db
      .updateTable('enrollment_tokens')
      .set({ used_at: at })
      .where('token_sha256', '=', tokenSha256)
      .where('used_at', 'is', null)
      .where('expires_at', '>', at)
      .where('platform', '=', platform)
      .returningAll()
      .executeTakeFirst();
    if (spent) return { ok: true, token: tokenOf(spent) };
    const verdict = await this.peekEnrollmentToken(tokenSha256, platform, at);
    // Not spent above, so peek cannot say ok unless it expired in between: report that.
    return verdict.ok ? { ok: false, reason: 'expired' } : verdict;
  }

  async peekEnrollmentToken(
    tokenSha256: string,
    platform: Platform,
    now: string,
  ): Promise<{ ok: true; token: EnrollmentToken } | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'wrong-platform' }> {
    const row = await this.db.selectFrom('enrollment_tokens').selectAll().where('token_sha256', '=', tokenSha256).executeTakeFirst();
    if (!row) return { ok: false, reason: 'unknown' };
    if (row.platform !== platform) return { ok: false, reason: 'wrong-platform' };
    if (row.used_at !== null) return { ok: false, reason: 'used' };
    if (row.expires_at <= new Date(now).toISOString()) return { ok: false, reason: 'expired' };
    return { ok: true, token: tokenOf(row) };
  }
}
