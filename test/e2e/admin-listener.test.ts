import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { freePort, startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Operations issue #14, item 7: with MDMGW_ADMIN_LISTEN the admin API answers
// only on the admin listener and the device listener (the Internet-facing one)
// answers 404 for it, however the path is spelled; device routes stay on the
// device listener. Two real listeners of one gateway.

let t: TestGateway;
const auth = () => ({ authorization: `Bearer ${t.gw.adminToken}` });

beforeAll(async () => {
  t = await startTestGateway({ env: { MDMGW_ADMIN_LISTEN: `127.0.0.1:${await freePort()}` } });
});
afterAll(async () => {
  await t?.stop();
});

describe('the admin listener', () => {
  it('serves the admin API, behind the token', async () => {
    expect(t.adminUrl).not.toBeNull();
    expect(t.adminUrl).not.toBe(t.url);
    expect((await fetch(`${t.adminUrl}/api/v1/users`, { headers: auth() })).status).toBe(200);
    expect((await fetch(`${t.adminUrl}/api/v1/users`)).status).toBe(401);
    const device = await t.api.ok('POST', '/devices', { name: 'split-1', platform: 'windows' });
    expect(device.id).toBeTypeOf('string');
  });

  it('the device listener answers 404 for every spelling of the admin API, even with the token', async () => {
    for (const p of ['/api/v1/users', '/api/v1', '/api/v1/', '/API/V1/users', '/Api/v1/ca', '/api/v1/users?x=1', '/api/v1//users', '/api/v1/nope', '/%61pi/v1/users', '/api/v1/%75sers']) {
      const r = await fetch(`${t.url}${p}`, { headers: auth() });
      expect([p, r.status]).toEqual([p, 404]);
      // Percent-encoded spellings match no route at all (Express does not decode before matching): its plain 404.
      if (!p.includes('%')) expect(await r.json()).toEqual({ error: 'not found' });
    }
    const post = await fetch(`${t.url}/api/v1/devices`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x', platform: 'windows' }) });
    expect(post.status).toBe(404);
    expect((await t.api.ok('GET', '/devices')).some((d: { name: string }) => d.name === 'x')).toBe(false);
  });

  it('device routes answer on the device listener only; health on both', async () => {
    const caps = await fetch(`${t.url}/certsrv/mscep/mscep.dll?operation=GetCACaps`);
    expect(caps.status).toBe(200);
    expect(await caps.text()).toContain('SCEPStandard');
    expect((await fetch(`${t.adminUrl}/certsrv/mscep/mscep.dll?operation=GetCACaps`)).status).toBe(404);
    expect((await fetch(`${t.adminUrl}/scep?operation=GetCACert`)).status).toBe(404);
    for (const base of [t.url, t.adminUrl]) expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('a whole enrollment: admin calls on the admin listener, SCEP on the device listener', async () => {
    const device = await t.api.ok('POST', '/devices', { name: 'split-2', platform: 'windows' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'split', scope: 'device', subjectName: 'CN={{DeviceName}},O=Split' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const { challenge, scepUrl } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    expect(scepUrl.startsWith(t.url)).toBe(true);
    expect((await scepEnroll({ scepUrl, subject: 'CN=split-2,O=Split', challenge })).status).toBe('SUCCESS');
    expect(await t.api.ok('GET', `/certificates?deviceId=${device.id}`)).toHaveLength(1);
  });
});

describe('without an admin listener', () => {
  it('serves everything on one listener, as before', async () => {
    const one = await startTestGateway();
    try {
      expect(one.adminUrl).toBeNull();
      expect((await fetch(`${one.url}/api/v1/users`, { headers: { authorization: `Bearer ${one.gw.adminToken}` } })).status).toBe(200);
      expect((await fetch(`${one.url}/certsrv/mscep/mscep.dll?operation=GetCACaps`)).status).toBe(200);
    } finally {
      await one.stop();
    }
  });
});
