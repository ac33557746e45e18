import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateChallengeKey } from '../../src/core/challenge/signing-key.js';
import { mintChallenge } from '../../src/core/challenge/token.js';
import { resolveRequest } from '../../src/core/profile/resolve.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Used challenges are forgotten once they have expired, and forgetting them
// cannot reopen a replay: an expired challenge is refused on its own.

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t.stop();
});

describe('housekeeping', () => {
  it('purges a used challenge after its expiry; a replay is then refused as expired', async () => {
    const device = await t.api.ok('POST', '/devices', { name: 'hk-1', platform: 'windows' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'hk', scope: 'device', subjectName: 'CN={{DeviceName}}' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const key = await loadOrCreateChallengeKey(t.dataDir);
    const r = resolveRequest((await t.gw.storage.getProfile(profile.id))!, { kind: 'device', deviceId: device.id }, { user: null, device: (await t.gw.storage.getDevice(device.id))! });
    if (!r.ok) throw new Error('resolve');
    // Long enough for an enrollment on a loaded CI machine (3 s was not), short enough to wait out.
    const short = mintChallenge(key.privateKey, { kind: 'profile', resolved: r.resolved, ttlSeconds: 15 });
    expect((await scepEnroll({ scepUrl: t.scepUrl, challenge: short.token, subject: 'CN=hk-1' })).status).toBe('SUCCESS');

    expect((await t.gw.housekeeping.runNow()).challenges).toBe(0); // not expired yet: still remembered
    expect(await t.gw.storage.isChallengeUsed(short.id)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, short.expiresAt.getTime() - Date.now()) + 1100));
    expect((await t.gw.housekeeping.runNow()).challenges).toBeGreaterThanOrEqual(1);
    expect(await t.gw.storage.isChallengeUsed(short.id)).toBe(false);

    const replay = await scepEnroll({ scepUrl: t.scepUrl, challenge: short.token, subject: 'CN=hk-1' });
    expect(replay.failInfoText).toMatch(/CHALLENGE_EXPIRED/);
  });
});

describe('housekeeping: audit retention (MDMGW_AUDIT_RETENTION_DAYS)', () => {
  it('purges audit records older than the retention, keeps newer ones', async () => {
    const g = await startTestGateway({ env: { MDMGW_AUDIT_RETENTION_DAYS: '2' } });
    try {
      expect(g.gw.config.auditRetentionDays).toBe(2);
      const day = 24 * 3600 * 1000;
      const append = (type: string, ageMs: number) =>
        g.gw.storage.appendAudit({ transactionId: null, type, reasonCode: null, actor: 'test', details: {}, at: new Date(Date.now() - ageMs).toISOString() });
      await append('test.too-old', 3 * day);
      await append('test.just-too-old', 2 * day + 60_000);
      await append('test.kept', 2 * day - 60_000);
      await append('test.recent', 0);
      const run = await g.gw.housekeeping.runNow();
      expect(run.auditEvents).toBe(2);
      const left = (await g.gw.storage.listAudit()).map((e) => e.type).filter((t) => t.startsWith('test.'));
      expect(left).toEqual(['test.kept', 'test.recent']);
      expect((await g.gw.housekeeping.runNow()).auditEvents).toBe(0);
    } finally {
      await g.stop();
    }
  });
});
