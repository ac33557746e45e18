import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS_EXAMINED_PER_SEARCH } from '../../src/http/admin/directory-source.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Issue 13 (branch scale13): GET /users?contains= is a substring, which no
// index serves; it walked every user (75 ms at 50,000). A request now reads at
// most USERS_EXAMINED_PER_SEARCH users and hands back the cursor to go on, so
// a page may hold fewer matches than limit, even none, while X-Next-Cursor
// is set (docs/api.md "Searching users").

let t: TestGateway;
const USERS = USERS_EXAMINED_PER_SEARCH + 300;
// Users whose display name holds the needle, by position in the batch; one batch shares a creation time, so the list
// orders them by id: the tests read the list order instead of assuming these positions.
const HITS = [10, USERS_EXAMINED_PER_SEARCH - 1, USERS_EXAMINED_PER_SEARCH + 250];

async function get(path: string) {
  const res = await fetch(`${t.api.base}${path}`, { headers: { authorization: `Bearer ${t.api.token}` } });
  return { status: res.status, body: (await res.json()) as any, next: res.headers.get('x-next-cursor') };
}

beforeAll(async () => {
  t = await startTestGateway();
  // One write of many users, as a directory sync makes them (the admin API would take minutes for 5,300).
  const users = Array.from({ length: USERS }, (_, i) => ({
    userPrincipalName: `bulk${i}@contoso.example`,
    email: `bulk${i}@mail.example`,
    displayName: HITS.includes(i) ? `Bulk ${i} Hay-NEEDLE-stack` : `Bulk ${i}`,
    source: 'ldap' as const,
    externalId: `bulk-${i}`,
  }));
  await t.gw.storage.createExternalUsers(users);
});

afterAll(async () => {
  await t?.stop();
});

describe('GET /users?contains=, a bounded walk', () => {
  it(`finds every match across more than ${USERS_EXAMINED_PER_SEARCH} users by following X-Next-Cursor, each request reading at most that many`, async () => {
    const everyone = (await t.gw.storage.listUsers()).map((u) => u.displayName);
    const expected = everyone.filter((n) => n.includes('NEEDLE'));
    expect(expected).toHaveLength(3);
    const pages: { names: string[]; next: string | null }[] = [];
    let next: string | null = null;
    do {
      const r = await get(`/users?contains=needle&limit=100${next ? `&after=${next}` : ''}`);
      expect(r.status).toBe(200);
      pages.push({ names: r.body.map((u: { displayName: string }) => u.displayName), next: r.next });
      next = r.next;
    } while (next && pages.length < 10);
    expect(pages.flatMap((p) => p.names)).toEqual(expected);
    // Each request held the matches of its own window of users in list order, no more: the walk stopped at the window's end.
    const windows = Math.ceil(everyone.length / USERS_EXAMINED_PER_SEARCH);
    expect(pages).toHaveLength(windows);
    pages.forEach((p, i) => expect(p.names).toEqual(everyone.slice(i * USERS_EXAMINED_PER_SEARCH, (i + 1) * USERS_EXAMINED_PER_SEARCH).filter((n) => n.includes('NEEDLE'))));
    expect(pages[0]!.next).not.toBeNull();
    expect(pages.at(-1)!.next).toBeNull();
  });

  it('a page may hold no match while the cursor goes on', async () => {
    const r = await get('/users?contains=no-such-user-anywhere&limit=10');
    expect(r.status).toBe(200);
    expect(r.body).toEqual([]);
    expect(r.next).not.toBeNull();
    const rest = await get(`/users?contains=no-such-user-anywhere&limit=10&after=${r.next}`);
    expect(rest.body).toEqual([]);
    expect(rest.next).toBeNull();
  });

  it('a full page resumes after its last match; q and contains together are a 400 naming contains', async () => {
    const expected = (await t.gw.storage.listUsers()).map((u) => u.displayName).filter((n) => n.includes('NEEDLE'));
    const first = await get('/users?contains=NEEDLE&limit=1');
    const second = await get(`/users?contains=NEEDLE&limit=1&after=${first.next}`);
    // Within the first window (the list's first users) whichever order the ids gave them, or in the next one.
    expect([...first.body, ...second.body].map((u: { displayName: string }) => u.displayName)).toEqual(expected.slice(0, 2));
    const both = await t.api.call('GET', '/users?q=bulk&contains=needle');
    expect(both.status).toBe(400);
    expect(both.body.issues).toEqual([{ path: 'contains', message: 'give q or contains, not both' }]);
  });
});
