import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Migrator, sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { copyDatabase, dependencyOrder } from '../../src/core/storage/db-copy.js';
import { openStorage, resolveDatabaseUrl, type Storage } from '../../src/core/storage/index.js';
import { KyselyStorage } from '../../src/core/storage/kysely-storage.js';
import { migrationProvider } from '../../src/core/storage/migrations.js';
import { openPostgresStorage } from '../../src/core/storage/postgres.js';
import { profileSpec } from '../helpers/profile-spec.js';
import { dropAllPostgresDatabases, freshPostgresDatabase, pgSkipReason } from '../helpers/postgres.js';

// `mdmgw db copy`: a populated store copied (SQLite -> PostgreSQL and back, and
// SQLite -> SQLite where no PostgreSQL is at hand) reads back equal through
// Storage and row for row; a non-empty target or one with other migrations is
// refused, leaving it as it was.

const tmp = mkdtempSync(join(tmpdir(), 'mdmgw-dbcopy-'));
let n = 0;
const sqliteUrl = () => `sqlite://${join(tmp, `db-${++n}.sqlite`)}`;
const side = (url: string) => ({ url, target: resolveDatabaseUrl(url, tmp) });
const copy = (from: string, to: string) => copyDatabase(side(from), side(to));
afterAll(async () => {
  rmSync(tmp, { recursive: true, force: true });
  if (!pgSkipReason()) await dropAllPostgresDatabases();
});

/** A store with something in every table, through the Storage API. */
async function populate(s: Storage): Promise<void> {
  const der = new Uint8Array(300).map((_, i) => (i * 7) % 256);
  const user = await s.createUser({ userPrincipalName: 'alice@contoso.com', email: 'alice@contoso.com', displayName: 'Alice', attributes: { dept: 'IT' } });
  const device = await s.createDevice({ name: 'laptop-1', platform: 'windows', userId: user.id, serialNumber: 'SN1' });
  const phone = await s.createDevice({ name: 'phone-1', platform: 'ios', userId: user.id });
  const group = await s.createGroup('Sales');
  await s.addGroupMember(group.id, { deviceId: device.id });
  await s.addGroupMember(group.id, { userId: user.id });
  const profile = await s.createProfile(profileSpec({ name: 'Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}}' }));
  await s.updateProfile(profile.id, { ...profile, name: 'Wi-Fi 2' });
  await s.createAssignment(profile.id, { groupId: group.id });
  await s.createAssignment(profile.id, { deviceId: phone.id });
  for (const [i, serial] of ['7f', '80'].entries()) {
    const tx = `tx-${i}`;
    const r = await s.recordEnrollment(
      { id: `ch-${i}`, expiresAt: '2030-01-01T00:00:00.000Z' },
      { transactionId: tx, status: 'issued', kind: 'profile', challengeId: `ch-${i}`, profileId: profile.id, profileVersion: 2, deviceId: device.id, userId: user.id, csrSha256: '00'.repeat(32), csrDer: der, resolved: null },
      { serialNumber: serial, kind: 'profile', subject: 'CN=laptop-1', notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2027-01-01T00:00:00.000Z', thumbprint: `${i}B`.repeat(20), sha256: 'cd'.repeat(32), transactionId: tx, profileId: profile.id, profileVersion: 2, deviceId: device.id, userId: user.id, der, issuerId: 'ca1' },
    );
    expect(r).toEqual({ ok: true });
  }
  await s.revokeCertificate('7f', '2026-02-01T00:00:00.000Z', 'keyCompromise');
  await s.addPendingRemovals([{ serialNumber: '80', deviceId: device.id, profileId: profile.id }], '2026-03-01T00:00:00.000Z');
  expect(await s.nextCrlNumber('ca1')).toBe(1);
  await s.putDeliveryStatus({ deviceId: device.id, profileId: profile.id, profileVersion: 2, state: 'installed', thumbprint: '1B'.repeat(20), certificateSerial: '80', errorCode: null, detail: null });
  await s.createEnrollmentToken({ tokenSha256: 'ee'.repeat(32), platform: 'android', userId: user.id, deviceId: null, expiresAt: '2030-01-01T00:00:00.000Z' });
  await s.enqueueCommand({ deviceId: phone.id, channel: 'device', kind: 'InstallProfile', payload: { a: [1, 2], b: true }, profileId: profile.id, profileVersion: 2 });
  await s.putPlatformState(phone.id, 'apple', { token: 'abc', nested: { ok: true } });
  await s.putSetting('apple.push', 'sealed-value');
  for (let i = 0; i < 5; i++) await s.appendAudit({ transactionId: `tx-${i % 2}`, type: 'ca.issued', reasonCode: null, actor: 'scep', details: { i } });
}

/** What Storage reads back, in a comparable shape. */
async function snapshot(s: Storage) {
  const devices = await s.listDevices();
  const groups = await s.listGroups();
  return {
    users: await s.listUsers(),
    devices,
    groups,
    // listGroupMembers orders by created_at only: members added in the same millisecond come in storage order.
    members: await Promise.all(groups.map(async (g) => (await s.listGroupMembers(g.id)).map((m) => JSON.stringify(m)).sort())),
    profiles: await s.listProfiles(),
    assignments: await s.listAssignments(),
    enrollments: await Promise.all(['tx-0', 'tx-1'].map((t) => s.getEnrollment(t))),
    certificates: await s.listCertificates(),
    revoked: await s.listRevoked('ca1'),
    pendingRemovals: await s.listPendingRemovals(),
    deliveries: await s.listDeliveryStatus({}),
    commands: await Promise.all(devices.map((d) => s.listCommands({ deviceId: d.id }))),
    platformState: await Promise.all(devices.map((d) => s.getPlatformState(d.id, 'apple'))),
    setting: await s.getSetting('apple.push'),
    token: await s.peekEnrollmentToken('ee'.repeat(32), 'android', '2026-01-01T00:00:00.000Z'),
    challengeUsed: await s.isChallengeUsed('ch-1'),
    audit: await s.listAudit(),
  };
}

async function populatedSqlite(): Promise<string> {
  const url = sqliteUrl();
  const s = await openStorage(url, tmp);
  await populate(s);
  await s.close();
  return url;
}

async function expectSameContents(fromUrl: string, toUrl: string, auditEvents = 5) {
  const [a, b] = [await openStorage(fromUrl, tmp), await openStorage(toUrl, tmp)];
  try {
    const before = await snapshot(a);
    expect(before.certificates).toHaveLength(2);
    expect(before.audit).toHaveLength(auditEvents);
    expect(await snapshot(b)).toEqual(before);
    // The copy goes on where the source stopped: audit ids and CRL numbers continue.
    await b.appendAudit({ transactionId: null, type: 'after.copy', reasonCode: null, actor: null, details: {} });
    expect((await b.listAudit()).at(-1)!.id).toBe(before.audit.at(-1)!.id + 1);
    expect(await b.nextCrlNumber('ca1')).toBe((await a.nextCrlNumber('ca1')));
  } finally {
    await a.close();
    await b.close();
  }
}

describe('db copy: table order', () => {
  it('puts parents before children, whatever the listing order', () => {
    const parents = new Map([
      ['devices', ['users']],
      ['group_members', ['groups', 'users', 'devices']],
      ['pending_removals', ['certificates']],
    ]);
    const order = dependencyOrder(['pending_removals', 'group_members', 'devices', 'certificates', 'groups', 'users'], parents);
    for (const [child, ps] of parents) for (const p of ps) expect(order.indexOf(p), `${p} before ${child}`).toBeLessThan(order.indexOf(child));
    expect(() => dependencyOrder(['a', 'b'], new Map([['a', ['b']], ['b', ['a']]]))).toThrow(/cycle among a, b/);
  });
});

describe('db copy: SQLite to SQLite', () => {
  it('copies every table and reads back equal', async () => {
    const from = await populatedSqlite();
    const to = sqliteUrl();
    await (await openStorage(to, tmp)).close(); // migrated, empty
    const counts = await copy(from, to);
    expect(counts.find((c) => c.table === 'users')).toEqual({ table: 'users', rows: 1 });
    expect(counts.find((c) => c.table === 'audit_events')).toEqual({ table: 'audit_events', rows: 5 });
    expect(counts.map((c) => c.table).indexOf('users')).toBeLessThan(counts.map((c) => c.table).indexOf('devices'));
    await expectSameContents(from, to);
  });

  it('refuses a target that is not empty, and one that does not exist, changing nothing', async () => {
    const from = await populatedSqlite();
    const to = sqliteUrl();
    const t = await openStorage(to, tmp);
    await t.createGroup('already here');
    await t.close();
    await expect(copy(from, to)).rejects.toThrow('the target is not empty (table groups has rows): copy only into a freshly migrated database');
    const after = await openStorage(to, tmp);
    expect((await after.listGroups()).map((g) => g.name)).toEqual(['already here']);
    expect(await after.listUsers()).toEqual([]);
    await after.close();
    await expect(copy(from, sqliteUrl())).rejects.toThrow(/target .*db-\d+\.sqlite does not exist: create and migrate it first \(mdmgw db migrate --database-url/);
  });
});

const skip = pgSkipReason();
describe.skipIf(skip !== null)(`db copy with PostgreSQL${skip ? `: ${skip}` : ''}`, () => {
  it('SQLite -> PostgreSQL -> SQLite: every row, read back equal through Storage', async () => {
    const from = await populatedSqlite();
    const pg = await freshPostgresDatabase();
    await (await openPostgresStorage(pg.url)).close();
    const counts = await copy(from, pg.url);
    expect(counts.reduce((a, c) => a + c.rows, 0)).toBeGreaterThan(20);
    await expectSameContents(from, pg.url);

    // And back: the copy of the copy equals too (the extra audit row and CRL number included).
    const back = sqliteUrl();
    await (await openStorage(back, tmp)).close();
    await copy(pg.url, back);
    await expectSameContents(pg.url, back, 6);
  });

  it('refuses a target whose migrations differ (unmigrated, or behind), and rolls back a failed copy', async () => {
    const from = await populatedSqlite();
    const bare = await freshPostgresDatabase();
    await expect(copy(from, bare.url)).rejects.toThrow(/the target's migrations differ from the source's \(target lacks: 0001_initial, .*\): run `mdmgw db migrate --database-url <url>` on both/);

    const behind = await freshPostgresDatabase();
    const storage = (await openPostgresStorage(behind.url)) as KyselyStorage;
    const migrator = new Migrator({ db: storage.db, provider: migrationProvider('postgres') });
    const { error } = await migrator.migrateTo('0009_crl_state');
    expect(error).toBeUndefined();
    await expect(copy(from, behind.url)).rejects.toThrow(/target lacks: 0011_enrollment_listing, 0012_device_retiring.*source lacks: none/);

    // A row the target refuses half-way (a CHECK the source did not have) rolls the whole copy back.
    await storage.migrate();
    await sql`alter table audit_events add constraint no_scep check (actor <> 'scep')`.execute(storage.db);
    await expect(copy(from, behind.url)).rejects.toThrow(/no_scep/);
    for (const table of ['users', 'devices', 'certificates', 'audit_events']) {
      const { rows } = await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(storage.db);
      expect(rows[0]!.n, table).toBe(0);
    }
    await storage.close();
  });

  it('mdmgw db copy prints the row count of every table; a second run refuses the non-empty target', async () => {
    const from = await populatedSqlite();
    const pg = await freshPostgresDatabase();
    const cli = (args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, '../../src/cli.ts'), 'db', ...args], { cwd: resolve(import.meta.dirname, '../..') }).then(
        (r) => ({ code: 0, out: r.stdout + r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
      );
    const migrated = await cli(['migrate', '--database-url', pg.url]);
    expect(migrated.out).toMatch(/^migrated postgres:\/\/[^:]+:\*\*\*\*@127\.0\.0\.1:\d+\/mdmgw_test_\w+\n$/);
    const first = await cli(['copy', '--from', from, '--to', pg.url]);
    expect(first.code, first.out).toBe(0);
    expect(first.out).toMatch(/^ {2}users +1$/m);
    expect(first.out).toMatch(/^ {2}certificates +2$/m);
    expect(first.out).toMatch(/^ {2}audit_events +5$/m);
    expect(first.out).toMatch(/copied \d+ rows in \d+ tables from sqlite:\/\/\/.* to postgres:\/\/[^:]+:\*\*\*\*@.*; every table's row count matches the source\n$/);
    expect(first.out).not.toContain(new URL(pg.url).password);
    const second = await cli(['copy', '--from', from, '--to', pg.url]);
    expect(second.code).toBe(1);
    expect(second.out).toBe('mdmgw: the target is not empty (table audit_events has rows): copy only into a freshly migrated database\n');
  }, 180_000);
});
