import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceAdapter } from '../../src/adapters/reference/index.js';
import type { PlatformAdapter } from '../../src/core/adapter.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Hand-made users and groups through the admin API (issue 11 part 3): search,
// group rename and delete, and clear 400/404/409 answers.

let t: TestGateway;
const changed: string[][] = [];
const listener: PlatformAdapter = {
  ...referenceAdapter,
  name: 'listener',
  platforms: ['windows'],
  onDevicesChanged: async (devices) => {
    changed.push(devices.map((d) => d.id));
  },
};
beforeAll(async () => {
  t = await startTestGateway({ adapters: [listener] });
});
afterAll(async () => {
  await t.stop();
});

describe('GET /users?q= and /groups?q=', () => {
  it('q finds users by a case-insensitive prefix of userPrincipalName, email or displayName (indexed); contains by a substring', async () => {
    const ann = await t.api.ok('POST', '/users', { userPrincipalName: 'ann.q@contoso.example', email: 'ann@mail.example', displayName: 'Ann Quill' });
    const bob = await t.api.ok('POST', '/users', { userPrincipalName: 'bob.q@contoso.example', email: 'bob@mail.example', displayName: 'Bob QUILLER (bob_50%)' });
    const ids = async (query: string) => ((await t.api.ok('GET', `/users?${query}`)) as { id: string }[]).map((u) => u.id).sort();
    const q = (v: string) => ids(`q=${encodeURIComponent(v)}`);
    expect(await q('ANN')).toEqual([ann.id]);
    expect(await q('ann@mail')).toEqual([ann.id]); // the email's start
    expect(await q('bob quiller (bob_5')).toEqual([bob.id]); // the display name's start; _ is no wildcard
    expect(await q('quill')).toEqual([]); // not at the start of any of the three
    expect(await q('b_b')).toEqual([]);
    const contains = (v: string) => ids(`contains=${encodeURIComponent(v)}`);
    expect(await contains('quill')).toEqual([ann.id, bob.id].sort());
    expect(await contains('_50%')).toEqual([bob.id]);
    expect(await contains('b_b')).toEqual([]);
    expect((await t.api.ok('GET', '/users')).length).toBeGreaterThanOrEqual(2);
  });

  it('answers 400 for an empty or repeated q, or an unknown parameter', async () => {
    for (const query of ['q=', 'q=a&q=b', 'contains=', 'contains=a&contains=b', 'name=x']) {
      const r = await t.api.call('GET', `/users?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body.error).toBe('invalid query');
    }
    expect((await t.api.call('GET', '/groups?q=')).status).toBe(400);
  });

  it('finds groups by name', async () => {
    const g = await t.api.ok('POST', '/groups', { name: 'Search Sales EMEA' });
    await t.api.ok('POST', '/groups', { name: 'Search Engineering' });
    expect((await t.api.ok('GET', '/groups?q=sales%20emea')).map((x: { id: string }) => x.id)).toEqual([g.id]);
  });
});

describe('PATCH and DELETE /groups/:id', () => {
  it('renames a group; 409 on a taken name, 404 unknown, 400 bad body', async () => {
    const a = await t.api.ok('POST', '/groups', { name: 'Rename A' });
    await t.api.ok('POST', '/groups', { name: 'Rename B' });
    const renamed = await t.api.ok('PATCH', `/groups/${a.id}`, { name: '  Rename C ' });
    expect(renamed).toEqual({ ...a, name: 'Rename C' });
    expect((await t.api.ok('GET', `/groups/${a.id}`)).name).toBe('Rename C');
    const taken = await t.api.call('PATCH', `/groups/${a.id}`, { name: 'Rename B' });
    expect(taken.status).toBe(409);
    expect(taken.body.error).toMatch(/Rename B already exists/);
    expect((await t.api.call('PATCH', '/groups/00000000-0000-4000-8000-000000000000', { name: 'x' })).status).toBe(404);
    const bad = await t.api.call('PATCH', `/groups/${a.id}`, { name: '', extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['extra', 'name']);
  });

  it('refuses to delete a group that assignments target (409 naming them), then deletes it and its memberships', async () => {
    const g = await t.api.ok('POST', '/groups', { name: 'Delete Me' });
    const device = await t.api.ok('POST', '/devices', { name: 'grp-pc', platform: 'windows' });
    await t.api.ok('POST', `/groups/${g.id}/members`, { deviceId: device.id });
    const profile = await t.api.ok('POST', '/profiles', { name: 'grp-wifi', scope: 'device', subjectName: 'CN={{DeviceName}}' });
    const assignment = await t.api.ok('POST', '/assignments', { profileId: profile.id, groupId: g.id });

    const refused = await t.api.call('DELETE', `/groups/${g.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.assignments).toEqual([assignment.id]);
    expect(refused.body.error).toMatch(/delete them first/);
    expect((await t.api.ok('GET', `/groups/${g.id}`)).name).toBe('Delete Me');

    await t.api.ok('DELETE', `/assignments/${assignment.id}`, undefined, 204);
    changed.length = 0;
    await t.api.ok('DELETE', `/groups/${g.id}`, undefined, 204);
    expect((await t.api.call('GET', `/groups/${g.id}`)).status).toBe(404);
    expect((await t.api.call('DELETE', `/groups/${g.id}`)).status).toBe(404);
    // The former member's deliveries are re-evaluated.
    await t.gw.devicesChanged.idle();
    expect(changed.flat()).toContain(device.id);
    // The device itself stays.
    expect((await t.api.ok('GET', `/devices/${device.id}`)).id).toBe(device.id);
    const audit = await t.api.ok('GET', '/audit?type=admin.group.deleted');
    expect(JSON.stringify(audit)).toContain(g.id);
  });
});

describe('PATCH /users/:id', () => {
  it('changes email, displayName and attributes; 400 names the field; the userPrincipalName cannot change', async () => {
    const u = await t.api.ok('POST', '/users', { userPrincipalName: 'pat@contoso.example', email: 'pat@contoso.example', displayName: 'Pat' });
    const updated = await t.api.ok('PATCH', `/users/${u.id}`, { email: 'pat.new@contoso.example', displayName: 'Pat New', attributes: { ObjectSid: 'S-1-5-21-1-2-3-1104' } });
    expect(updated).toMatchObject({ email: 'pat.new@contoso.example', displayName: 'Pat New', attributes: { ObjectSid: 'S-1-5-21-1-2-3-1104' } });
    const bad = await t.api.call('PATCH', `/users/${u.id}`, { email: 'nope', userPrincipalName: 'x@y', attributes: { ObjectSid: 'S-1-5' } });
    expect(bad.status).toBe(400);
    expect(bad.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['attributes.ObjectSid', 'email', 'userPrincipalName']);
  });
});
