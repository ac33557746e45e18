import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { KyselyStorage, openStorage, resolveDatabaseUrl } from '../../src/core/storage/index.js';
import { DEFAULT_SQLITE_CACHE_MIB, openSqliteStorage } from '../../src/core/storage/sqlite.js';
import { migrationProvider, migrations } from '../../src/core/storage/migrations.js';
import { startTestGateway } from '../helpers/gateway.js';
import { storageContract } from './contract.js';

const tmp = mkdtempSync(join(tmpdir(), 'mdmgw-storage-'));
let counter = 0;
const tempFile = () => join(tmp, `db-${process.pid}-${++counter}`, 'test.sqlite');

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

storageContract('sqlite :memory:', () => openSqliteStorage(':memory:'));
storageContract('sqlite file', () => openSqliteStorage(tempFile()));

describe('sqlite backend', () => {
  it('sets WAL, foreign keys and busy timeout on a file database', async () => {
    const storage = await openSqliteStorage(tempFile());
    try {
      expect(storage).toBeInstanceOf(KyselyStorage);
      const db = (storage as KyselyStorage).db;
      const pragma = async (name: string) => {
        const { rows } = await sql.raw(`pragma ${name}`).execute(db);
        return Object.values(rows[0] as Record<string, unknown>)[0];
      };
      expect(await pragma('journal_mode')).toBe('wal');
      expect(await pragma('foreign_keys')).toBe(1);
      expect(await pragma('busy_timeout')).toBe(5000);
    } finally {
      await storage.close();
    }
  });

  it('gives the connection a page cache of DEFAULT_SQLITE_CACHE_MIB, or the size asked for (read back from PRAGMA cache_size, KiB when negative)', async () => {
    const cacheSize = async (storage: Awaited<ReturnType<typeof openSqliteStorage>>) => {
      const { rows } = await sql.raw('pragma cache_size').execute((storage as KyselyStorage).db);
      return (rows[0] as { cache_size: number }).cache_size;
    };
    const byDefault = await openSqliteStorage(tempFile());
    try {
      expect(await cacheSize(byDefault)).toBe(-DEFAULT_SQLITE_CACHE_MIB * 1024);
    } finally {
      await byDefault.close();
    }
    // Through openStorage, as the gateway and the CLI open it.
    const asked = await openStorage(`sqlite://${tempFile()}`, tmp, { cacheMiB: 7 });
    try {
      expect(await cacheSize(asked)).toBe(-7 * 1024);
    } finally {
      await asked.close();
    }
  });

  it('the gateway opens its database with MDMGW_SQLITE_CACHE_MIB', async () => {
    const t = await startTestGateway({ env: { MDMGW_SQLITE_CACHE_MIB: '24' } });
    try {
      const { rows } = await sql.raw('pragma cache_size').execute((t.gw.storage as KyselyStorage).db);
      expect((rows[0] as { cache_size: number }).cache_size).toBe(-24 * 1024);
    } finally {
      await t.stop();
    }
  });

  it('keeps data across close and reopen; reopening does not re-run migrations', async () => {
    const file = tempFile();
    const der = new Uint8Array(300).map((_, i) => (i * 7) % 256);

    const first = await openSqliteStorage(file);
    const user = await first.createUser({ userPrincipalName: 'a@x', email: 'a@x', displayName: 'A', attributes: { k: 'v' } });
    const device = await first.createDevice({ name: 'd', platform: 'android', userId: user.id });
    const group = await first.createGroup('g');
    await first.addGroupMember(group.id, { deviceId: device.id });
    const profile = await first.createProfile({
      name: 'p',
      scope: 'user',
      subjectName: 'CN={{UserPrincipalName}}',
      subjectAlternativeNames: [],
      extendedKeyUsages: [],
      keyUsage: ['digitalSignature'],
      keySize: 4096,
      hashAlgorithm: 'SHA-384',
      validityDays: 10,
      renewalThresholdPercent: 10,
      keyProtection: 'software',
      keyExportable: true,
      scepServerUrls: [],
      trustedRootCertificate: null,
      requireApproval: false,
      revokeOnRemoval: true,
      issuer: 'default',
      sidExtension: false,
    });
    const v2 = await first.updateProfile(profile.id, { ...profile, name: 'p2' });
    const assignment = await first.createAssignment(profile.id, { groupId: group.id });
    expect(
      await first.recordEnrollment(
        { id: 'ch', expiresAt: '2030-01-01T00:00:00.000Z' },
        {
          transactionId: 'tx',
          status: 'issued',
          kind: 'profile',
          challengeId: 'ch',
          profileId: profile.id,
          profileVersion: 2,
          deviceId: device.id,
          userId: user.id,
          csrSha256: '00'.repeat(32),
          csrDer: der,
          resolved: null,
        },
        {
          serialNumber: '7f',
          kind: 'profile',
          subject: 'CN=a',
          notBefore: '2026-01-01T00:00:00.000Z',
          notAfter: '2026-01-11T00:00:00.000Z',
          thumbprint: 'AB'.repeat(20),
          sha256: 'cd'.repeat(32),
          transactionId: 'tx',
          profileId: profile.id,
          profileVersion: 2,
          deviceId: device.id,
          userId: user.id,
          der,
        },
      ),
    ).toEqual({ ok: true });
    await first.appendAudit({ transactionId: 'tx', type: 'ca.issued', reasonCode: null, actor: 'scep', details: { serial: '7f' } });
    const certificate = await first.getCertificate('7f');
    const enrollment = await first.getEnrollment('tx');
    await first.close();
    await first.close(); // idempotent

    const second = await openSqliteStorage(file);
    try {
      await second.migrate();
      expect(await second.getUser(user.id)).toEqual(user);
      expect(await second.getDevice(device.id)).toEqual(device);
      expect(await second.groupsOf({ deviceId: device.id })).toEqual([group.id]);
      expect(await second.getProfile(profile.id)).toEqual(v2);
      expect(await second.getProfile(profile.id, 1)).toEqual(profile);
      expect(await second.listAssignments()).toEqual([assignment]);
      expect(await second.getEnrollment('tx')).toEqual(enrollment);
      const reread = await second.getCertificate('7f');
      expect(reread).toEqual(certificate);
      expect(reread!.der).toEqual(der);
      expect(await second.isChallengeUsed('ch')).toBe(true);
      expect(await second.recordEnrollment({ id: 'ch', expiresAt: '2030-01-01T00:00:00.000Z' }, { ...enrollment!, transactionId: 'tx2', status: 'pending' }, null)).toEqual({
        ok: false,
        reason: 'challenge-used',
      });
      expect((await second.listAudit()).map((e) => e.details)).toEqual([{ serial: '7f' }]);
    } finally {
      await second.close();
    }

    // Each migration recorded once, despite three migrate() runs.
    const raw = new BetterSqlite3(file, { readonly: true });
    try {
      const names = raw.prepare('select name from kysely_migration order by name').all() as { name: string }[];
      expect(names.map((n) => n.name)).toEqual(Object.keys(migrations('sqlite')).sort());
      const check = raw.prepare('pragma foreign_key_check').all();
      expect(check).toEqual([]);
    } finally {
      raw.close();
    }
  });

  it('starts transactions with BEGIN IMMEDIATE (write lock held from the start)', async () => {
    const file = tempFile();
    const storage = await openSqliteStorage(file);
    const other = new BetterSqlite3(file);
    try {
      other.pragma('busy_timeout = 0');
      const db = (storage as KyselyStorage).db;
      let seen: unknown;
      await db.transaction().execute(async () => {
        // No statement has run in the transaction yet; a DEFERRED begin would hold no lock.
        try {
          other.exec('begin immediate');
          other.exec('rollback');
          seen = 'acquired';
        } catch (e) {
          seen = (e as { code?: string }).code;
        }
      });
      expect(seen).toBe('SQLITE_BUSY');
      // Released after commit.
      other.exec('begin immediate');
      other.exec('rollback');
    } finally {
      other.close();
      await storage.close();
    }
  });

  it('several processes migrating and spending one challenge on one file: exactly one wins', async () => {
    const file = tempFile();
    const here = dirname(fileURLToPath(import.meta.url));
    const worker = join(here, 'race-worker.ts');
    const startAt = Date.now() + 2000; // all workers open (and migrate) the fresh file at once
    const outputs = await Promise.all(
      [1, 2, 3].map((i) =>
        promisify(execFile)(process.execPath, ['--import', 'tsx', worker, file, String(i), '10', String(startAt)], {
          cwd: join(here, '..', '..'),
          timeout: 60_000,
        }),
      ),
    );
    const results = outputs.flatMap((o) => JSON.parse(o.stdout) as { tx: string; ok: boolean; reason?: string }[]);
    expect(results).toHaveLength(30);
    const winners = results.filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.reason === 'challenge-used')).toHaveLength(29);

    const storage = await openSqliteStorage(file);
    try {
      const certificates = await storage.listCertificates();
      expect(certificates.map((c) => c.transactionId)).toEqual([winners[0]!.tx]);
      expect(await storage.getEnrollment(winners[0]!.tx)).not.toBeNull();
      expect(await storage.listAudit({ type: 'race' })).toHaveLength(30);
    } finally {
      await storage.close();
    }
    const raw = new BetterSqlite3(file, { readonly: true });
    try {
      const names = raw.prepare('select name from kysely_migration order by name').all() as { name: string }[];
      expect(names.map((n) => n.name)).toEqual(Object.keys(migrations('sqlite')).sort());
    } finally {
      raw.close();
    }
  }, 90_000);

  it('pendingMigrations() names what a database behind the code lacks (readiness)', async () => {
    const raw = new BetterSqlite3(':memory:');
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: raw }) });
    expect((await new Migrator({ db, provider: migrationProvider('sqlite') }).migrateTo('0001_initial')).error).toBeUndefined();
    const storage = new KyselyStorage(db, { dialect: 'sqlite' });
    try {
      expect(await storage.pendingMigrations()).toEqual(Object.keys(migrations('sqlite')).sort().slice(1));
      await storage.migrate();
      expect(await storage.pendingMigrations()).toEqual([]);
    } finally {
      await storage.close();
    }
  });

  it('0003 upgrades a database: earlier revocations read as unspecified, nothing is a renewal or blocked', async () => {
    const file = tempFile();
    mkdirSync(dirname(file), { recursive: true });
    const raw = new BetterSqlite3(file);
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: raw }) });
    const initialOnly = new Migrator({ db, provider: { getMigrations: async () => ({ '0001_initial': migrations('sqlite')['0001_initial']! }) } });
    expect((await initialOnly.migrateToLatest()).error).toBeUndefined();
    const row = (serial: string, revokedAt: string | null) => ({
      serial_number: serial, kind: 'profile', subject: 'CN=x', not_before: '2026-01-01T00:00:00.000Z', not_after: '2027-01-01T00:00:00.000Z',
      thumbprint: serial.padEnd(40, '0'), sha256: serial.padEnd(64, '0'), der: Buffer.from([0x30, 0x00]), issued_at: '2026-01-01T00:00:00.000Z', revoked_at: revokedAt,
    });
    await db.insertInto('certificates').values([row('01', '2026-02-01T00:00:00.000Z'), row('02', null)]).execute();
    await db.insertInto('devices').values({ id: 'd-1', name: 'd', platform: 'ios', attributes: '{}', created_at: '2026-01-01T00:00:00.000Z' }).execute();
    await db.destroy();

    const storage = await openSqliteStorage(file);
    try {
      expect(await storage.getCertificate('01')).toMatchObject({ revokedAt: '2026-02-01T00:00:00.000Z', revocationReason: 'unspecified', renewalOf: null });
      expect(await storage.getCertificate('02')).toMatchObject({ revokedAt: null, revocationReason: null, renewalOf: null });
      expect(await storage.getDevice('d-1')).toMatchObject({ blockedAt: null });
    } finally {
      await storage.close();
    }
  });

  it('0002_device_reported_values upgrades a 0001 database: existing names stay the admin\'s, nothing reported yet', async () => {
    const file = join(tmp, 'upgrade-0002.sqlite');
    const old = new Kysely<any>({ dialect: new SqliteDialect({ database: new BetterSqlite3(file) }) });
    const done = await new Migrator({ db: old, provider: migrationProvider('sqlite') }).migrateTo('0001_initial');
    expect(done.error).toBeUndefined();
    await old
      .insertInto('devices')
      .values({ id: 'd-old', name: 'LAPTOP-7', platform: 'windows', serial_number: 'SN7', user_id: null, attributes: '{}', created_at: '2026-01-01T00:00:00.000Z' })
      .execute();
    await old.destroy();
    const storage = await openSqliteStorage(file);
    try {
      expect(await storage.getDevice('d-old')).toMatchObject({
        name: 'LAPTOP-7',
        serialNumber: 'SN7',
        reported: { name: null, serialNumber: null, conflicts: [], updatedAt: null },
      });
    } finally {
      await storage.close();
    }
  });

  it('enforces the group member CHECK constraint at the database level', async () => {
    const storage = await openSqliteStorage(':memory:');
    try {
      const db = (storage as KyselyStorage).db;
      const g = await storage.createGroup('g');
      const u = await storage.createUser({ userPrincipalName: 'u@x', email: 'u@x', displayName: 'U' });
      const d = await storage.createDevice({ name: 'd', platform: 'ios' });
      const now = new Date().toISOString();
      await expect(
        db.insertInto('group_members').values({ group_id: g.id, user_id: u.id, device_id: d.id, created_at: now }).execute(),
      ).rejects.toThrow(/CHECK/i);
      await expect(
        db.insertInto('group_members').values({ group_id: g.id, user_id: null, device_id: null, created_at: now }).execute(),
      ).rejects.toThrow(/CHECK/i);
    } finally {
      await storage.close();
    }
  });
});

describe('openStorage / resolveDatabaseUrl', () => {
  it('defaults to <dataDir>/mdmgw.sqlite and creates it', async () => {
    const dataDir = join(tmp, 'data-default', 'nested');
    expect(resolveDatabaseUrl(undefined, dataDir)).toEqual({ kind: 'sqlite', file: join(dataDir, 'mdmgw.sqlite') });
    expect(resolveDatabaseUrl('  ', dataDir)).toEqual({ kind: 'sqlite', file: join(dataDir, 'mdmgw.sqlite') });
    const storage = await openStorage(undefined, dataDir);
    try {
      await storage.createGroup('g');
      expect(existsSync(join(dataDir, 'mdmgw.sqlite'))).toBe(true);
    } finally {
      await storage.close();
    }
  });

  it('accepts sqlite: and file: URLs naming an absolute file', async () => {
    expect(resolveDatabaseUrl('sqlite:///var/lib/mdmgw/db.sqlite', '/data')).toEqual({ kind: 'sqlite', file: '/var/lib/mdmgw/db.sqlite' });
    expect(resolveDatabaseUrl('sqlite:/var/lib/mdmgw/db.sqlite', '/data')).toEqual({ kind: 'sqlite', file: '/var/lib/mdmgw/db.sqlite' });
    expect(resolveDatabaseUrl('sqlite://localhost/var/db.sqlite', '/data')).toEqual({ kind: 'sqlite', file: '/var/db.sqlite' });
    expect(resolveDatabaseUrl('file:///var/lib/my%20db.sqlite', '/data')).toEqual({ kind: 'sqlite', file: '/var/lib/my db.sqlite' });
    expect(resolveDatabaseUrl('file:/srv/x.sqlite', '/data')).toEqual({ kind: 'sqlite', file: '/srv/x.sqlite' });
    expect(resolveDatabaseUrl('SQLITE:///srv/x.sqlite', '/data')).toEqual({ kind: 'sqlite', file: '/srv/x.sqlite' });
    expect(resolveDatabaseUrl('sqlite::memory:', '/data')).toEqual({ kind: 'sqlite', file: ':memory:' });

    const file = join(tmp, 'url-form', 'explicit.sqlite');
    const storage = await openStorage(`sqlite://${file}`, '/nonexistent-data-dir');
    try {
      await storage.createGroup('g');
      expect(existsSync(file)).toBe(true);
    } finally {
      await storage.close();
    }
  });

  it('takes postgres: and postgresql: URLs; refuses anything else without echoing credentials', async () => {
    expect(resolveDatabaseUrl('postgres://mdm:hunter2@db.example:5432/mdm', '/data')).toEqual({ kind: 'postgres', url: 'postgres://mdm:hunter2@db.example:5432/mdm' });
    expect(resolveDatabaseUrl('postgresql://mdm@db/mdm?sslmode=require', '/data')).toEqual({ kind: 'postgres', url: 'postgresql://mdm@db/mdm?sslmode=require' });
    for (const bad of ['postgres://mdm:hunter2@db.example', 'postgres://mdm:hunter2@db.example/']) {
      expect(() => resolveDatabaseUrl(bad, '/data'), bad).toThrow(/MDMGW_DATABASE_URL postgres:\/\/mdm:\*\*\*\*@db.example\/? names no database/);
    }
    expect(() => resolveDatabaseUrl('postgres://mdm:hunter2@:5432/mdm', '/data')).toThrow(/MDMGW_DATABASE_URL: not a valid postgres:\/\/ URL/);
    for (const bad of [
      'mysql://root:hunter2@db/mdm',
      '/var/lib/mdmgw/db.sqlite',
      'sqlite:relative.sqlite',
      'sqlite://dbhost/var/db.sqlite',
      'file:./x.sqlite',
      'sqlite:///',
      'sqlite:///var/db.sqlite?mode=ro',
      'sqlite:///var/%zz.sqlite',
    ]) {
      const e = await openStorage(bad, '/data').then(
        () => null,
        (err: unknown) => err,
      );
      expect(e, bad).toBeInstanceOf(Error);
      expect((e as Error).message, bad).toMatch(/MDMGW_DATABASE_URL/);
      expect((e as Error).message, bad).not.toContain('hunter2');
    }
  });
});

describe('sqlite CRL numbers', () => {
  it('keep growing across close and reopen (a restart never reuses a CRL Number)', async () => {
    const file = tempFile();
    const first = await openSqliteStorage(file);
    expect(await first.nextCrlNumber('aa01')).toBe(1);
    expect(await first.nextCrlNumber('aa01')).toBe(2);
    await first.close();
    const second = await openSqliteStorage(file);
    try {
      expect(await second.nextCrlNumber('aa01')).toBe(3);
    } finally {
      await second.close();
    }
  });
});
