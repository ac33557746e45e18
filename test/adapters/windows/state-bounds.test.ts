import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { windowsAdapter } from '../../../src/adapters/windows/index.js';
import type { WindowsState } from '../../../src/adapters/windows/state.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { WindowsSimulator } from '../../../src/sim/windows.js';

// Issue #15 (S2): what a Windows device sends is kept within bounds in its
// state: enrollment context values, the login status, and per-item statuses a
// device repeats within a session.

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [windowsAdapter] });
});
afterAll(async () => {
  await t.stop();
});

let n = 0;
async function tokenFor() {
  const upn = `bounds${++n}@contoso.com`;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: 'B' });
  const token = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
  return { upn, token: token.token as string };
}
const stateOf = async (deviceId: string) => (await t.gw.storage.getPlatformState(deviceId, 'windows')) as WindowsState;

describe('Windows per-device state stays bounded', () => {
  it('keeps at most 256 characters of each enrollment context value (OSVersion, DeviceName; a DeviceID is at most 128 or refused)', async () => {
    const { upn, token } = await tokenFor();
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token, osVersion: `10.0.${'1'.repeat(100_000)}`, deviceName: 'D'.repeat(50_000), hardwareId: 'H'.repeat(128) });
    expect((await sim.enroll()).fault).toBeUndefined();
    const deviceId = new X509Certificate(sim.identity!).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
    const state = await stateOf(deviceId);
    expect(state.enrollment!.osVersion).toHaveLength(256);
    expect(state.enrollment!.hardwareId).toHaveLength(128);
    // The DeviceName is the device's report, never the admin's name (S4), and bounded too.
    expect((await t.api.ok('GET', `/devices/${deviceId}`)).reported.name).toHaveLength(256);
    expect(Buffer.byteLength(JSON.stringify(state))).toBeLessThan(8 * 1024);
  });

  it('a device repeating Status for the same Atomic items and a huge LoginStatus does not grow its session state', async () => {
    const { upn, token } = await tokenFor();
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token });
    expect((await sim.enroll()).fault).toBeUndefined();
    const deviceId = new X509Certificate(sim.identity!).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
    const profile = await t.api.ok('POST', '/profiles', { name: `bounded ${n}`, scope: 'device', subjectName: 'CN={{DeviceName}}', scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId });
    sim.loginStatus = 'u'.repeat(100_000);
    // Every Status line the device sends goes out 30 times (more would pass the SyncML element limit, refused on its own).
    const post = sim.post.bind(sim);
    sim.post = (xml, headers) => post(xml.replace(/ {4}<Status>.*<\/Status>\n?/g, (line) => line.repeat(30)), headers);
    await sim.session();
    const session = (await stateOf(deviceId)).session!;
    expect(session.loginStatus).toHaveLength(64);
    const items = Object.values(session.itemStatuses).flat();
    expect(items.length).toBeGreaterThan(0);
    // One entry per (command, target), however often it was reported.
    expect(new Set(items.map((i) => `${i.cmd} ${i.target}`)).size).toBe(items.length);
  });
});
