import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// The admin API contract: authentication, field-level validation, 404/409.

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t.stop();
});

describe('admin API', () => {
  it('answers /healthz without a token', async () => {
    const res = await fetch(`${t.url}/healthz`);
    expect(res.status).toBe(200);
    expect((await res.json()) as any).toEqual({ status: 'ok' });
  });

  it('refuses calls without or with a wrong bearer token', async () => {
    const none = await fetch(`${t.api.base}/users`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as any).error).toMatch(/bearer/i);
    const wrong = await fetch(`${t.api.base}/users`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/Bearer/);
  });

  it('creates users and devices and rejects bad fields one by one', async () => {
    const user = await t.api.ok('POST', '/users', { userPrincipalName: 'ada@contoso.com', email: 'ada@contoso.com', displayName: 'Ada' });
    expect(user.id).toMatch(/^[0-9a-f-]{36}$/);
    const bad = await t.api.call('POST', '/users', { userPrincipalName: 'nope', email: 'x', displayName: '' });
    expect(bad.status).toBe(400);
    const paths = bad.body.issues.map((i: { path: string }) => i.path).sort();
    expect(paths).toEqual(['displayName', 'email', 'userPrincipalName']);

    const dev = await t.api.ok('POST', '/devices', { name: 'laptop-1', platform: 'windows', serialNumber: 'SN1', userId: user.id });
    expect(dev).toMatchObject({ name: 'laptop-1', platform: 'windows', userId: user.id });
    const badPlatform = await t.api.call('POST', '/devices', { name: 'x', platform: 'blackberry' });
    expect(badPlatform.status).toBe(400);
    expect(badPlatform.body.issues[0].path).toBe('platform');
    const unknownUser = await t.api.call('POST', '/devices', { name: 'x', platform: 'ios', userId: '00000000-0000-4000-8000-000000000000' });
    expect(unknownUser.status).toBe(404);
    expect((await t.api.call('GET', `/devices/${dev.id}`)).body.name).toBe('laptop-1');
    expect((await t.api.call('GET', '/devices/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('rejects malformed JSON with 400, not 500', async () => {
    const res = await fetch(`${t.api.base}/users`, { method: 'POST', headers: { authorization: `Bearer ${t.api.token}`, 'content-type': 'application/json' }, body: '{"oops' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatch(/JSON/);
  });

  it('versions profiles and refuses unknown template variables when saved', async () => {
    const bad = await t.api.call('POST', '/profiles', { name: 'p', scope: 'device', subjectName: 'CN={{NoSuchVariable}}' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.issues)).toMatch(/NoSuchVariable/);
    const p1 = await t.api.ok('POST', '/profiles', { name: 'wifi', scope: 'device', subjectName: 'CN={{DeviceName}},O=Contoso' });
    expect(p1).toMatchObject({ version: 1, keySize: 2048, hashAlgorithm: 'SHA-256' });
    const p2 = await t.api.ok('PUT', `/profiles/${p1.id}`, { name: 'wifi', scope: 'device', subjectName: 'CN={{DeviceName}},O=Contoso', keySize: 4096 }, 200);
    expect(p2).toMatchObject({ id: p1.id, version: 2, keySize: 4096 });
    expect((await t.api.ok('GET', `/profiles/${p1.id}?version=1`)).keySize).toBe(2048);
    expect((await t.api.call('DELETE', `/profiles/${p1.id}`)).status).toBe(204);
    expect((await t.api.call('GET', `/profiles/${p1.id}`)).status).toBe(404);
  });

  it('assigns profiles and answers 404 for unknown targets and 409 for duplicates', async () => {
    const p = await t.api.ok('POST', '/profiles', { name: 'vpn', scope: 'device', subjectName: 'CN={{DeviceName}}' });
    const g = await t.api.ok('POST', '/groups', { name: 'laptops' });
    expect((await t.api.call('POST', '/groups', { name: 'laptops' })).status).toBe(409);
    const a = await t.api.ok('POST', '/assignments', { profileId: p.id, groupId: g.id });
    expect(a.profileId).toBe(p.id);
    expect((await t.api.call('POST', '/assignments', { profileId: p.id, groupId: g.id })).status).toBe(409);
    expect((await t.api.call('POST', '/assignments', { profileId: p.id, deviceId: '00000000-0000-4000-8000-000000000000' })).status).toBe(404);
    expect((await t.api.call('POST', '/assignments', { profileId: p.id, deviceId: 'x', groupId: g.id })).status).toBe(400);
  });

  it('mints challenges only for assigned targets', async () => {
    const dev = await t.api.ok('POST', '/devices', { name: 'printer-7', platform: 'android' });
    const p = await t.api.ok('POST', '/profiles', { name: 'printer', scope: 'device', subjectName: 'CN={{DeviceName}}' });
    const notAssigned = await t.api.call('POST', '/challenges', { profileId: p.id, deviceId: dev.id });
    expect(notAssigned.status).toBe(409);
    await t.api.ok('POST', '/assignments', { profileId: p.id, deviceId: dev.id });
    const c = await t.api.ok('POST', '/challenges', { profileId: p.id, deviceId: dev.id });
    expect(c.challenge.length).toBeLessThanOrEqual(255);
    expect(c.challenge).toMatch(/^[A-Za-z0-9+/=]+$/);
    expect(c.scepUrl).toBe(t.scepUrl);
    expect(new Date(c.expiresAt).getTime()).toBeGreaterThan(Date.now() + 50 * 60_000);
    const audit = await t.api.ok('GET', '/audit?type=admin.challenge.minted');
    expect(JSON.stringify(audit)).not.toContain(c.challenge);
  });

  it('answers unknown API paths with a JSON 404', async () => {
    const r = await t.api.call('GET', '/nope');
    expect(r.status).toBe(404);
    expect(r.body.error).toMatch(/no such/);
  });

  it('refuses enrollment tokens for a platform no adapter serves', async () => {
    const u = await t.api.ok('POST', '/users', { userPrincipalName: 'tok@contoso.com', email: 'tok@contoso.com', displayName: 'Tok' });
    const r = await t.api.call('POST', '/enrollment-tokens', { userId: u.id, platform: 'ios' });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatch(/no adapter/);
  });
});
