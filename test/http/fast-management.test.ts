import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { windowsAdapter } from '../../src/adapters/windows/index.js';
import { WINDOWS_XML_LIMITS } from '../../src/core/input-limits.js';
import { openStorage } from '../../src/core/storage/index.js';
import type { Storage } from '../../src/core/storage/storage.js';
import { WindowsSimulator } from '../../src/sim/windows.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { expressRequestCounter } from '../helpers/express-count.js';
import { enrolledWindowsDevice } from '../helpers/windows-device.js';

// The Windows OMA-DM message (POST /ManagementServer/MDM.svc) answered in
// front of Express (src/adapters/windows/management.ts through
// src/http/fast-checkins.ts, issue 13). Which path answered is seen by counting
// the requests that reach the Express app. A message with `charset=utf8` (a
// spelling express.text decodes as UTF-8, which the fast path does not take)
// goes to the Express route: the same session through both paths, from the
// same stored state, gets the same bytes.

let t: TestGateway;
let raw: Storage;
let viaExpress: (fn: () => Promise<unknown>) => Promise<number>;

beforeAll(async () => {
  t = await startTestGateway({ adapters: [windowsAdapter] });
  raw = await openStorage(undefined, t.dataDir);
  viaExpress = expressRequestCounter(t.gw.app);
});
afterAll(async () => {
  await raw?.close();
  await t?.stop();
});

async function metric(name: string, ...labels: string[]): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${t.gw.adminToken}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)));
  return Number(line?.split(' ').pop() ?? 0);
}

let n = 0;
/** A Windows device with 3 installed profiles whose sessions have nothing to do. */
async function steadyDevice(): Promise<{ sim: WindowsSimulator; deviceId: string }> {
  n += 1;
  const { sim, deviceId } = await enrolledWindowsDevice(t, { upn: `fast-win-${n}@contoso.com`, label: `Fast${n}` });
  expect((await sim.session()).enrolled).toHaveLength(3);
  await sim.session();
  await sim.session();
  return { sim, deviceId };
}

/** The sim's messages sent with a Content-Type only the Express route takes. */
function throughExpress(sim: WindowsSimulator): () => void {
  const post = sim.post.bind(sim);
  sim.post = (xml, headers = sim.certHeader()) => post(xml, { ...headers, 'content-type': 'application/vnd.syncml.dm+xml; charset=utf8' });
  return () => {
    sim.post = post;
  };
}

describe('Windows OMA-DM messages in front of Express', () => {
  it('answers a session itself, with the same bytes the Express route gives from the same state', async () => {
    const { sim, deviceId } = await steadyDevice();
    const before = await raw.getPlatformState(deviceId, 'windows');
    let fast!: Awaited<ReturnType<WindowsSimulator['session']>>;
    expect(await viaExpress(async () => (fast = await sim.session()))).toBe(0);
    expect(fast.messages).toHaveLength(2);

    // The same session again from the same stored state, through the Express route.
    await raw.putPlatformState(deviceId, 'windows', before!);
    sim.sessionCounter -= 1;
    const restore = throughExpress(sim);
    let slow!: Awaited<ReturnType<WindowsSimulator['session']>>;
    try {
      expect(await viaExpress(async () => (slow = await sim.session()))).toBe(2);
    } finally {
      restore();
    }
    expect(slow.messages.map((m) => m.raw)).toEqual(fast.messages.map((m) => m.raw));
    // And the state each path left is the same (but for the session's start time).
    const stored = async () => {
      const st = (await raw.getPlatformState(deviceId, 'windows')) as { session: { startedAt?: string } };
      delete st.session.startedAt;
      return st;
    };
    const afterSlow = await stored();
    await raw.putPlatformState(deviceId, 'windows', before!);
    sim.sessionCounter -= 1;
    await sim.session();
    expect(await stored()).toEqual(afterSlow);
  });

  it('serves the Content-Type the route serves, and counts each message under the route label and as a check-in', async () => {
    const { sim } = await steadyDevice();
    const label = ['method="POST"', 'route="/ManagementServer/MDM.svc"', 'status="200"'];
    const [requests, checkIns] = [await metric('mdmgw_http_requests_total', ...label), await metric('mdmgw_checkins_total', 'platform="windows"', 'result="ok"')];
    const r = await fetch(`${t.url}/ManagementServer/MDM.svc`, { method: 'POST', headers: { 'content-type': 'application/vnd.syncml.dm+xml', ...sim.certHeader() }, body: sim.message('900', 1, sim.firstPackage()) });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/vnd.syncml.dm+xml; charset=utf-8');
    await r.text();
    expect(await viaExpress(() => sim.session())).toBe(0);
    expect(await metric('mdmgw_http_requests_total', ...label)).toBe(requests + 3);
    expect(await metric('mdmgw_checkins_total', 'platform="windows"', 'result="ok"')).toBe(checkIns + 3);
  });

  it('refuses a replayed MsgID with SyncHdr 400 in front of Express, changing only the session message counter', async () => {
    const { sim, deviceId } = await steadyDevice();
    await sim.session();
    const sessionId = String(sim.sessionCounter);
    const stateBefore = await raw.getPlatformStateVersioned(deviceId, 'windows');
    let r!: Awaited<ReturnType<WindowsSimulator['post']>>;
    // The session's closing message (MsgID 2) sent again (MsgID 1 would start the session anew).
    const second = sim.message(sessionId, 2, '');
    expect(await viaExpress(async () => (r = await sim.post(second)))).toBe(0);
    expect(r.status).toBe(200);
    const hdrStatus = r.msg!.statuses.find((s) => s.children.find((c) => c.name === 'Cmd')?.text === 'SyncHdr');
    expect(hdrStatus?.children.find((c) => c.name === 'Data')?.text).toBe('400');
    // The refusal's own MsgID is recorded (the state moves on by one write), nothing else.
    const stateAfter = await raw.getPlatformStateVersioned(deviceId, 'windows');
    expect(stateAfter.version).toBe(stateBefore.version + 1);
    expect((stateAfter.state as { profiles: unknown }).profiles).toEqual((stateBefore.state as { profiles: unknown }).profiles);
  });

  it('hands malformed, oversized, mistyped and unauthenticated messages to the route, which answers them as before', async () => {
    const { sim } = await steadyDevice();
    const post = (body: string, headers: Record<string, string>) => fetch(`${t.url}/ManagementServer/MDM.svc`, { method: 'POST', headers, body });
    const syncml = { 'content-type': 'application/vnd.syncml.dm+xml', ...sim.certHeader() };
    let r!: Response;
    expect(await viaExpress(async () => (r = await post('<SyncML><SyncHdr>', syncml)))).toBe(1);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toMatch(/not well-formed|unreadable|expected/i);

    expect(await viaExpress(async () => (r = await post('<SyncML/>', syncml)))).toBe(1);
    expect(r.status).toBe(400);

    expect(await viaExpress(async () => (r = await post('<!DOCTYPE x [<!ENTITY a "b">]><SyncML/>', syncml)))).toBe(1);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toBe('DOCTYPE is not allowed');

    expect(await viaExpress(async () => (r = await post('x'.repeat(WINDOWS_XML_LIMITS.maxBodyBytes + 1), syncml)))).toBe(1);
    expect(r.status).toBe(413);

    expect(await viaExpress(async () => (r = await post(sim.message('901', 1, sim.firstPackage()), { ...syncml, 'content-type': 'text/xml' })))).toBe(1);
    expect(r.status).toBe(415);

    expect(await viaExpress(async () => (r = await post(sim.message('902', 1, sim.firstPackage()), { 'content-type': 'application/vnd.syncml.dm+xml' })))).toBe(1);
    expect(r.status).toBe(401);
    await r.text();
  });
});
