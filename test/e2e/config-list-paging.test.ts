import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { recordSqliteStatements } from '../helpers/sql-statements.js';

// Issue 13 (scale12): GET /groups, /assignments and /profiles answered every
// row at once; they page like GET /devices (limit 1..1000, default 100,
// `after`, X-Next-Cursor and Link rel="next", still an array, 400 naming a
// bad parameter). A directory brings thousands of groups, and assignments
// grow with per-device and per-user targets.

let t: TestGateway;
const groups: string[] = [];
const profiles: string[] = [];
const assignments: { id: string; profileId: string }[] = [];

async function get(path: string) {
  const res = await fetch(`${t.api.base}${path}`, { headers: { authorization: `Bearer ${t.api.token}` } });
  return { status: res.status, body: (await res.json()) as any, next: res.headers.get('x-next-cursor'), link: res.headers.get('link') };
}

/** Every row of `path`, following Link rel="next"; checks each page's size and the last page's missing headers. */
async function walk(path: string, limit: number): Promise<{ id: string; createdAt: string }[]> {
  const seen: { id: string; createdAt: string }[] = [];
  let next = `${path}${path.includes('?') ? '&' : '?'}limit=${limit}`;
  for (let pages = 0; ; pages++) {
    expect(pages).toBeLessThan(50);
    const r = await get(next);
    expect([next, r.status]).toEqual([next, 200]);
    expect(Array.isArray(r.body)).toBe(true);
    expect(r.body.length).toBeLessThanOrEqual(limit);
    seen.push(...r.body);
    if (!r.next) {
      expect(r.link).toBeNull();
      return seen;
    }
    expect(r.link).toMatch(new RegExp(`after=${r.next}>; rel="next"$`));
    next = r.link!.match(/^<\/api\/v1(.*)>; rel="next"$/)![1]!;
  }
}

beforeAll(async () => {
  t = await startTestGateway();
  for (let i = 0; i < 105; i++) groups.push((await t.api.ok('POST', '/groups', { name: `Paged Group ${i}` })).id);
  for (let i = 0; i < 103; i++) profiles.push((await t.api.ok('POST', '/profiles', { name: `paged-${i}`, scope: 'device', subjectName: 'CN={{DeviceName}}' })).id);
  // 110 assignments: 103 profiles to group 0, and the first profile to 7 more groups.
  for (const profileId of profiles) assignments.push({ profileId, id: (await t.api.ok('POST', '/assignments', { profileId, groupId: groups[0] })).id });
  for (let g = 1; g <= 7; g++) assignments.push({ profileId: profiles[0]!, id: (await t.api.ok('POST', '/assignments', { profileId: profiles[0], groupId: groups[g] })).id });
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

describe('GET /groups, /assignments and /profiles, paged like GET /devices', () => {
  it('answers the first 100 by default, with X-Next-Cursor and Link to the rest', async () => {
    for (const [path, total] of [['/groups', 105], ['/profiles', 103], ['/assignments', 110]] as const) {
      const r = await get(path);
      expect([path, r.status, r.body.length]).toEqual([path, 200, 100]);
      expect(r.next).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(r.link).toBe(`<${new URL(t.api.base).pathname}${path}?after=${r.next}>; rel="next"`);
      const rest = await get(`${path}?after=${r.next}`);
      expect([path, rest.body.length, rest.next, rest.link]).toEqual([path, total - 100, null, null]);
    }
  });

  it('walks every row once, in creation order, at any page size', async () => {
    for (const [path, ids] of [['/groups', groups], ['/profiles', profiles], ['/assignments', assignments.map((a) => a.id)]] as const) {
      const seen = await walk(path, 9);
      expect(seen.map((r) => r.id).sort()).toEqual([...ids].sort());
      const order = seen.map((r) => `${r.createdAt} ${r.id}`);
      expect(order).toEqual([...order].sort());
    }
  });

  it('keeps the filters across pages: groups by q, assignments by profileId', async () => {
    const g = await walk('/groups?q=group%201', 4); // Paged Group 1, 10..19, 100..104
    expect(g.map((x: any) => x.name).sort()).toEqual(['Paged Group 1', ...Array.from({ length: 10 }, (_, i) => `Paged Group 1${i}`), ...Array.from({ length: 5 }, (_, i) => `Paged Group 10${i}`)].sort());
    const a = await walk(`/assignments?profileId=${profiles[0]}`, 3);
    expect(a.map((x) => x.id).sort()).toEqual(assignments.filter((x) => x.profileId === profiles[0]).map((x) => x.id).sort());
  });

  it('answers 400 naming the bad parameter', async () => {
    const bad = Buffer.from('["x","y"]').toString('base64url');
    for (const path of ['/groups', '/profiles', '/assignments']) {
      for (const [query, field] of [['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=1.5', 'limit'], ['limit=1&limit=2', 'limit'], ['after=not-a-cursor', 'after'], [`after=${bad}`, 'after'], ['colour=red', 'colour']] as const) {
        const r = await get(`${path}?${query}`);
        expect([path, query, r.status]).toEqual([path, query, 400]);
        expect(r.body.error).toBe('invalid query');
        expect(r.body.issues.map((i: { path: string }) => i.path)).toContain(field);
      }
    }
    expect((await get('/assignments?profileId=nope')).body.issues.map((i: { path: string }) => i.path)).toEqual(['profileId']);
    expect((await get('/groups?q=')).status).toBe(400);
  });

  it('DELETE /assignments/:id deletes by key, without reading every assignment first; 404 once gone', async () => {
    const sql = recordSqliteStatements();
    const last = assignments.at(-1)!;
    const del = (id: string) => fetch(`${t.api.base}/assignments/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${t.api.token}` } });
    sql.recording = true;
    expect((await del(last.id)).status).toBe(204);
    sql.recording = false;
    const onAssignments = sql.executed.filter((q) => /\bfrom "assignments"/i.test(q));
    expect(onAssignments.length).toBeGreaterThan(0);
    for (const q of onAssignments) expect(q).toMatch(/where "id" = \?/);
    expect((await del(last.id)).status).toBe(404);
    expect((await del('no-such-assignment')).status).toBe(404);
    expect((await walk(`/assignments?profileId=${last.profileId}`, 100)).map((x) => x.id)).not.toContain(last.id);
  });
});
