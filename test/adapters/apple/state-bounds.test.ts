import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'plist';
import { createAppleAdapter } from '../../../src/adapters/apple/index.js';
import { MAX_USER_CHANNELS } from '../../../src/adapters/apple/state.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { FakeApns, pushCertificate } from '../../../src/sim/fake-apns.js';
import { AppleDeviceSim } from '../../../src/sim/apple.js';

// Issue #15 (S2): an enrolled device must not grow its own state without bound
// (a new UserID per TokenUpdate), nor its stored command answers; and an old
// signed TokenUpdate must not put back a push token the device has replaced.

const TOPIC = 'com.apple.mgmt.External.5b0c2a1e-1111-4c7d-9e0f-1a2b3c4d5e6f';
let t: TestGateway;
let apns: FakeApns;

beforeAll(async () => {
  apns = await FakeApns.start();
  const push = await pushCertificate(apns.ca, TOPIC);
  t = await startTestGateway({ adapters: [createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })] });
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
});
afterAll(async () => {
  await t?.stop();
  await apns?.stop();
});

async function enrolledMac(): Promise<{ sim: AppleDeviceSim; deviceId: string }> {
  const n = randomBytes(4).toString('hex');
  const u = await t.api.ok('POST', '/users', { userPrincipalName: `mac-${n}@contoso.com`, email: `mac-${n}@contoso.com`, displayName: 'Mac' });
  const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: u.id, platform: 'macos' });
  const sim = new AppleDeviceSim(t.url, 'macos');
  await sim.enroll(tok.enrollmentUrl);
  const deviceId = new X509Certificate(sim.identity!.certificate).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
  expect((await sim.authenticate()).status).toBe(200);
  expect((await sim.tokenUpdate()).status).toBe(200);
  return { sim, deviceId };
}

const stateBytes = async (deviceId: string) => Buffer.byteLength(JSON.stringify(await t.gw.storage.getPlatformState(deviceId, 'apple')));

describe('Apple per-device state stays bounded', () => {
  it(`200 TokenUpdates with a new UserID each: ${MAX_USER_CHANNELS} user channels, the rest refused (403), state stays small`, async () => {
    const { sim, deviceId } = await enrolledMac();
    const statuses: number[] = [];
    // 200 is far past the cap (the finding used 1,500: 7 MB of state).
    for (let i = 0; i < 200; i++) {
      const res = await sim.tokenUpdate(`USER-${String(i).padStart(4, '0')}-0000-4000-8000-000000000000`);
      statuses.push(res.status);
      if (res.status !== 200) expect(((await res.json()) as { error: string }).error).toMatch(/already has 16 user channels/);
    }
    expect(statuses.slice(0, MAX_USER_CHANNELS).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(MAX_USER_CHANNELS).every((s) => s === 403)).toBe(true);
    const state = (await t.gw.storage.getPlatformState(deviceId, 'apple')) as { channels: Record<string, unknown> };
    expect(Object.keys(state.channels)).toHaveLength(MAX_USER_CHANNELS + 1); // + the device channel
    expect(await stateBytes(deviceId)).toBeLessThan(16 * 1024); // about 1 MB after 200 before the fix (7 MB after 1,500)
    // A known user's channel still updates; a user who checks out frees a slot.
    expect((await sim.tokenUpdate('USER-0003-0000-4000-8000-000000000000')).status).toBe(200);
    expect((await sim.checkin({ MessageType: 'CheckOut', UserID: 'USER-0003-0000-4000-8000-000000000000' })).status).toBe(200);
    expect((await sim.tokenUpdate('USER-9999-0000-4000-8000-000000000000')).status).toBe(200);
    expect((await sim.tokenUpdate('USER-9998-0000-4000-8000-000000000000')).status).toBe(403);
    // /healthz still answers promptly.
    const started = Date.now();
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000);
  }, 600_000);

  it('a replayed TokenUpdate cannot bring back a push token the device replaced', async () => {
    const { sim, deviceId } = await enrolledMac();
    const send = (body: Uint8Array, signature: string) =>
      fetch(sim.enrollment!.mdm.CheckInURL, { method: 'PUT', headers: { 'content-type': 'application/x-apple-aspen-mdm-checkin', 'Mdm-Signature': signature }, body });
    const signed = async (token: Buffer) => {
      const body = new Uint8Array(Buffer.from(build({ ...sim.tokenUpdateMessage(), Token: token }), 'utf8'));
      return { body, signature: await sim.sign(body) };
    };
    const first = randomBytes(32);
    const second = randomBytes(32);
    const recorded = await signed(first); // what an attacker on the path keeps
    expect((await send(recorded.body, recorded.signature)).status).toBe(200);
    const newer = await signed(second);
    expect((await send(newer.body, newer.signature)).status).toBe(200);

    const replay = await send(recorded.body, recorded.signature);
    expect(replay.status).toBe(409);
    expect(((await replay.json()) as { error: string }).error).toMatch(/replaced by a newer TokenUpdate/);
    const state = (await t.gw.storage.getPlatformState(deviceId, 'apple')) as { channels: Record<string, { token: string }>; supersededTokens: string[] };
    expect(state.channels.device!.token).toBe(second.toString('hex'));
    // Only a hash of the old token is kept.
    expect(JSON.stringify(state)).not.toContain(first.toString('hex'));
    expect(state.supersededTokens).toContain(createHash('sha256').update(`device ${first.toString('hex')}`).digest('hex').slice(0, 32));
    // The current token repeated is fine (devices resend it on every launch).
    expect((await send(newer.body, newer.signature)).status).toBe(200);
    const refused = (await t.gw.storage.listAudit({ type: 'apple.checkin.refused' })).filter((e) => e.actor === `device:${deviceId}`);
    expect(refused.map((e) => e.details.error)).toEqual([expect.stringMatching(/replaced by a newer TokenUpdate/)]);
  });

  it('a command answer is stored within bounds, however big the device makes it', async () => {
    const { sim, deviceId } = await enrolledMac();
    const queued = await t.api.ok('POST', `/apple/devices/${deviceId}/commands`, { kind: 'ProfileList' }, 201);
    const cmd = await sim.connect({ Status: 'Idle' });
    expect(cmd!.CommandUUID).toBe(queued.command.id);
    const huge = Array.from({ length: 1500 }, (_, i) => ({ PayloadIdentifier: `com.example.${i}`, PayloadDisplayName: 'x'.repeat(300) }));
    await sim.connect({ Status: 'Acknowledged', CommandUUID: queued.command.id, ProfileList: huge });
    const stored = (await t.gw.storage.listCommands({ deviceId })).find((c) => c.id === queued.command.id)!;
    expect(stored.status).toBe('acknowledged');
    expect(Buffer.byteLength(JSON.stringify(stored.result))).toBeLessThanOrEqual(64 * 1024); // about 500 KB before
    expect((stored.result!.ProfileList as unknown[]).at(-1)).toBe('…(truncated, 1436 more items)');
  });
});
