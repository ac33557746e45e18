import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Issue 13: GET /devices answered every device at once (1.4 s of CPU at
// 100,000); it now pages like GET /users, and GET /audit walks back past its
// newest 1,000 records. Both keep answering an array; the next page's cursor
// is in X-Next-Cursor and Link rel="next".

let t: TestGateway;
const made: { id: string; name: string }[] = [];

async function get(path: string) {
  const res = await fetch(`${t.api.base}${path}`, { headers: { authorization: `Bearer ${t.api.token}` } });
  return { status: res.status, body: (await res.json()) as any, next: res.headers.get('x-next-cursor'), link: res.headers.get('link') };
}

beforeAll(async () => {
  t = await startTestGateway();
  for (let i = 0; i < 105; i += 15) {
    made.push(...(await Promise.all(Array.from({ length: Math.min(15, 105 - i) }, (_, j) => t.api.ok('POST', '/devices', { name: `page-${i + j}`, platform: 'android' })))));
  }
});

afterAll(async () => {
  await t?.stop();
});

describe('GET /devices, paged', () => {
  it('answers the first 100 by default with a cursor to the rest', async () => {
    const r = await get('/devices');
    expect(r.status).toBe(200);
    expect(r.body).toHaveLength(100);
    expect(r.next).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(r.link).toBe(`</api/v1/devices?after=${r.next}>; rel="next"`);
    const rest = await get(`/devices?after=${r.next}`);
    expect(rest.body).toHaveLength(5);
    expect(rest.next).toBeNull();
    expect(rest.link).toBeNull();
  });

  it('walks every device once, in creation order, skipping a deleted one, whatever the page size', async () => {
    const gone = made[50]!;
    expect((await t.api.call('DELETE', `/devices/${gone.id}`)).status).toBe(204);
    expect((await get(`/devices/${gone.id}`)).status).toBe(404);
    const seen: { id: string; createdAt: string }[] = [];
    let path = '/devices?limit=17';
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(10);
      const r = await get(path);
      expect(r.status).toBe(200);
      expect(r.body.length).toBeLessThanOrEqual(17);
      seen.push(...r.body);
      if (!r.next) break;
      path = r.link!.match(/^<\/api\/v1(.*)>; rel="next"$/)![1]!;
    }
    const ids = seen.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(made.filter((d) => d.id !== gone.id).map((d) => d.id).sort());
    const order = seen.map((d) => `${d.createdAt} ${d.id}`);
    expect(order).toEqual([...order].sort());
    expect((await get('/devices?limit=1000')).body.map((d: { id: string }) => d.id)).toEqual(seen.map((d) => d.id));
  });

  it('refuses a bad limit or cursor with 400 naming the parameter', async () => {
    for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'limit=1.5', 'limit=', 'limit=5&limit=6']) {
      const r = await get(`/devices?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.issues.map((i: { path: string }) => i.path), q).toEqual(['limit']);
    }
    const forged = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const after of ['garbage!', forged(['2026-01-01T00:00:00.000Z']), forged(['not a date', made[0]!.id]), forged(['2026-01-01T00:00:00.000Z', "' or 1=1 --"]), 'x'.repeat(600)]) {
      const r = await get(`/devices?after=${encodeURIComponent(after)}`);
      expect(r.status, after).toBe(400);
      expect(r.body.issues.map((i: { path: string }) => i.path)).toEqual(['after']);
    }
    expect((await get('/devices?offset=100')).status).toBe(400);
  });
});

describe('GET /audit, paged back from the newest', () => {
  it('walks every record once with before, each page oldest to newest; filters kept', async () => {
    for (let i = 0; i < 34; i++) await t.gw.storage.appendAudit({ transactionId: null, type: i % 3 ? 'test.page.b' : 'test.page.a', reasonCode: null, actor: 'test', details: { i } });
    const all = (await get('/audit?limit=1000')).body as { id: number; type: string }[];
    expect(all.length).toBeGreaterThan(25);
    const seen: { id: number }[][] = [];
    let path = '/audit?limit=10';
    for (;;) {
      const r = await get(path);
      expect(r.status).toBe(200);
      seen.unshift(r.body);
      if (!r.next) break;
      path = `/audit?limit=10&before=${r.next}`;
    }
    expect(seen.flat().map((e) => e.id)).toEqual(all.map((e) => e.id));
    const type = 'test.page.a';
    const filtered = await get(`/audit?type=${encodeURIComponent(type)}&limit=2`);
    expect(filtered.body.every((e: { type: string }) => e.type === type)).toBe(true);
    expect(filtered.next).not.toBeNull();
    {
      const older = await get(`/audit?type=${encodeURIComponent(type)}&limit=2&before=${filtered.next}`);
      expect(older.body).toHaveLength(2);
      expect(older.body.every((e: { type: string; id: number }) => e.type === type && e.id < filtered.body[0].id)).toBe(true);
    }
  });

  it('refuses a bad limit or before with 400', async () => {
    expect((await get('/audit?limit=0')).status).toBe(400);
    expect((await get('/audit?limit=1001')).status).toBe(400);
    for (const before of ['garbage!', Buffer.from(JSON.stringify(['2026-01-01T00:00:00.000Z', '0'])).toString('base64url'), Buffer.from(JSON.stringify(['2026-01-01T00:00:00.000Z', '1.5'])).toString('base64url')]) {
      const r = await get(`/audit?before=${before}`);
      expect(r.status, before).toBe(400);
      expect(r.body.issues.map((i: { path: string }) => i.path)).toEqual(['before']);
    }
    expect((await get('/audit?before=a&before=b')).status).toBe(400);
  });
});
