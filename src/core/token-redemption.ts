import type { Redeemed, RedeemCheckRefusal, RedeemFailure, RedeemOptions } from './adapter.js';
import type { TokenVerdict } from './enrollment-tokens.js';
import type { Device, Platform, User } from './model.js';
import type { ReportedValues } from './reported-values.js';

// Enrollment-token redemption, once for every adapter. The order is the
// point: every check that can refuse runs while the token is only looked at,
// so a refused enrollment (a blocked or deleted device, another user, a CSR
// that cannot be certified) never burns the token nor leaves a device record
// behind. Spending is the last check (exactly one concurrent request wins);
// finding or creating the device comes after it.

export interface RedemptionDeps {
  peek(token: string, platform: Platform): Promise<TokenVerdict>;
  consume(token: string, platform: Platform): Promise<TokenVerdict>;
  getDevice(id: string): Promise<Device | null>;
  createDevice(d: { platform: Platform; userId: string | null; reported?: ReportedValues }): Promise<Device>;
  reportDevice(device: Device, values: ReportedValues): Promise<Device>;
  getUser(id: string): Promise<User | null>;
}

/** The token's verdict for the first of `platforms` it is for (a URL that does not say the platform: Apple's iOS or macOS). */
async function peekAny(d: RedemptionDeps, token: string, platforms: readonly Platform[]): Promise<TokenVerdict> {
  let verdict: TokenVerdict = { ok: false, reason: 'wrong-platform' };
  for (const p of platforms) {
    verdict = await d.peek(token, p);
    if (verdict.ok || verdict.reason !== 'wrong-platform') return verdict;
  }
  return verdict;
}

export async function redeemEnrollmentToken<R>(
  d: RedemptionDeps,
  adapterPlatforms: readonly Platform[],
  raw: string,
  o: RedeemOptions<R> = {},
): Promise<Redeemed | RedeemFailure | RedeemCheckRefusal<R>> {
  const found = await peekAny(d, raw, o.platforms ?? adapterPlatforms);
  if (!found.ok) return found;
  const token = found.token;
  const tokenDevice = token.deviceId ? await d.getDevice(token.deviceId) : null;
  if (token.deviceId && !tokenDevice) return { ok: false, reason: 'device-missing', token };
  // Blocking cuts a device off entirely: a token made before the block does not bring it back.
  // A retired device is refused like a blocked one (it is never unblocked).
  if (tokenDevice?.blockedAt || tokenDevice?.retiredAt || tokenDevice?.retiringSince) return { ok: false, reason: 'device-blocked', token, device: tokenDevice };
  const userId = token.userId ?? tokenDevice?.userId ?? null;
  if (userId && o.userMatches) {
    const user = await d.getUser(userId);
    if (!(await o.userMatches(user, token))) return { ok: false, reason: 'user-mismatch', token, user };
  }
  const checked = (await o.check?.({ token, device: tokenDevice, userId })) ?? {};
  if ('refuse' in checked) return { ok: false, reason: 'check', token, refusal: checked.refuse };
  const chosen = checked.device === undefined ? tokenDevice : checked.device;
  // A device the check chose is held to the same rule as the token's own.
  if (chosen?.blockedAt || chosen?.retiredAt || chosen?.retiringSince) return { ok: false, reason: 'device-blocked', token, device: chosen };

  const spent = await d.consume(raw, token.platform);
  if (!spent.ok) return { ...spent, token }; // a concurrent request won it
  if (chosen) {
    const device = o.reported ? await d.reportDevice(chosen, o.reported) : chosen;
    return { ok: true, token: spent.token, device, created: false, userId };
  }
  const device = await d.createDevice({ platform: token.platform, userId: spent.token.userId, ...(o.reported && { reported: o.reported }) });
  return { ok: true, token: spent.token, device, created: true, userId };
}
