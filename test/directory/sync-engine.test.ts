import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DirectoryGroup, DirectorySnapshot, DirectoryUser } from '../../src/core/directory/entries.js';
import { applyDirectory, DirectorySyncRefused, DN_ATTRIBUTE } from '../../src/core/directory/sync.js';
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';
import type { Storage } from '../../src/core/storage/storage.js';

// The sync engine on its own (real SQLite, no LDAP): what a sync may change
// and what it must never change.

const NOW = '2026-12-07T05:00:00.000Z';
let s: Storage;
beforeEach(async () => {
  s = await openSqliteStorage(':memory:');
});
afterEach(async () => {
  await s.close();
});

function user(name: string, extra: Partial<DirectoryUser> = {}): DirectoryUser {
  const dn = `uid=${name},ou=people,dc=example,dc=org`;
  return { externalId: `id-${name}`, dn, userPrincipalName: `${name}@example.org`, email: `${name}@example.org`, displayName: name, enabled: true, attributes: { [DN_ATTRIBUTE]: dn }, ...extra };
}
const group = (name: string, members: string[]): DirectoryGroup => ({ externalId: `g-${name}`, dn: `cn=${name},ou=groups,dc=example,dc=org`, name, members });
const snapshot = (users: DirectoryUser[], groups: DirectoryGroup[] = [], full = true): DirectorySnapshot => ({ full, users, groups, skipped: [] });
const sync = (snap: DirectorySnapshot) => applyDirectory({ storage: s, source: 'ldap', now: NOW }, snap);
const byUpn = async (upn: string) => (await s.listUsers()).find((u) => u.userPrincipalName === upn);

describe('directory sync engine', () => {
  it('refuses an empty full read while synced users are enabled, changing nothing', async () => {
    await sync(snapshot([user('ann'), user('bob')]));
    await expect(sync(snapshot([]))).rejects.toBeInstanceOf(DirectorySyncRefused);
    expect((await s.listUsers()).every((u) => u.enabled)).toBe(true);
  });

  it('never touches local users: a directory entry with a local user\'s name is skipped, saying why', async () => {
    const local = await s.createUser({ userPrincipalName: 'Ann@example.org', email: 'mine@example.org', displayName: 'Mine' });
    const out = await sync(snapshot([user('ann'), user('bob')]));
    expect(out.counts.usersCreated).toBe(1);
    expect(out.skipped).toEqual(['uid=ann,ou=people,dc=example,dc=org: userPrincipalName ann@example.org belongs to a local user']);
    expect(await s.getUser(local.id)).toEqual(local);
    // A later full read without bob disables bob only.
    await sync(snapshot([user('ann')]));
    expect(await s.getUser(local.id)).toEqual(local);
    expect((await byUpn('bob@example.org'))?.enabled).toBe(false);
  });

  it('an incremental read updates what it lists and disables no one; a full one disables the missing', async () => {
    await sync(snapshot([user('ann'), user('bob')]));
    const inc = await sync(snapshot([user('ann', { displayName: 'Ann A.' })], [], false));
    expect(inc.counts).toMatchObject({ usersUpdated: 1, usersDisabled: 0 });
    expect((await byUpn('bob@example.org'))?.enabled).toBe(true);
    const full = await sync(snapshot([user('ann', { displayName: 'Ann A.' })]));
    expect(full.counts).toMatchObject({ usersUpdated: 0, usersDisabled: 1 });
  });

  it('two directory entries with one userPrincipalName: the first is created, the second skipped, the rest still created', async () => {
    const out = await sync(snapshot([user('ann'), user('dup', { userPrincipalName: 'ann@example.org' }), user('bob')]));
    expect(out.counts.usersCreated).toBe(2);
    expect(out.skipped).toEqual([expect.stringMatching(/^uid=dup,ou=people,dc=example,dc=org: a user with userPrincipalName ann@example.org/)]);
    expect((await s.listUsers()).map((u) => u.externalId).sort()).toEqual(['id-ann', 'id-bob']);
  });

  it('follows renames by externalId, re-enables accounts enabled again, and audits each disable', async () => {
    await sync(snapshot([user('ann')]));
    const id = (await byUpn('ann@example.org'))!.id;
    await sync(snapshot([user('ann', { userPrincipalName: 'ann.new@example.org', enabled: false })]));
    expect(await s.getUser(id)).toMatchObject({ userPrincipalName: 'ann.new@example.org', enabled: false, disabledAt: NOW });
    expect((await s.listAudit({ type: 'directory.user.disabled' })).at(-1)).toMatchObject({ details: { userId: id, why: 'disabled in the directory' } });
    const again = await sync(snapshot([user('ann', { userPrincipalName: 'ann.new@example.org' })]));
    expect(again.counts).toMatchObject({ usersUpdated: 1, usersDisabled: 0 });
    expect((await s.getUser(id))?.enabled).toBe(true);
  });

  it('flattens nested groups (cycles end), and empties a group gone from the directory but keeps it', async () => {
    const users = [user('ann'), user('bob'), user('cy')];
    const [ann, bob, cy] = users.map((u) => u.dn);
    const groups = [group('all', [ann!, group('inner', []).dn]), group('inner', [bob!, group('all', []).dn]), group('other', [cy!])];
    const first = await sync(snapshot(users, groups));
    expect(first.counts).toMatchObject({ groupsCreated: 3, membershipsChanged: 2 + 2 + 1 });
    const all = (await s.listGroups()).find((g) => g.name === 'all')!;
    expect((await s.listGroupMembers(all.id)).length).toBe(2);
    const other = (await s.listGroups()).find((g) => g.name === 'other')!;
    const second = await sync(snapshot(users, groups.slice(0, 2)));
    expect(second.counts.membershipsChanged).toBe(1);
    expect(await s.getGroup(other.id)).toMatchObject({ name: 'other', source: 'ldap' });
    expect(await s.listGroupMembers(other.id)).toEqual([]);
    // DNs match whatever their case and spacing.
    const third = await sync(snapshot(users, [group('all', [ann!.toUpperCase().replace(/,/g, ', ')]), groups[1]!]));
    expect(third.counts.membershipsChanged).toBe(1); // bob left "all"; ann stays
  });

  it('a local group of the same name is not taken over: the directory group is skipped', async () => {
    const mine = await s.createGroup('staff');
    const out = await sync(snapshot([user('ann')], [group('staff', [user('ann').dn])]));
    expect(out.counts.groupsCreated).toBe(0);
    expect(out.skipped[0]).toMatch(/^cn=staff,ou=groups,dc=example,dc=org: a group named staff/);
    expect(await s.listGroupMembers(mine.id)).toEqual([]);
  });
});
