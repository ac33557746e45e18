import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/gateway.js';
import { dropAllPostgresDatabases, freshPostgresDatabase, pgSkipReason, TEST_PG_URL } from '../helpers/postgres.js';

// `mdmgw serve` with a database URL that cannot work: one line naming the URL
// with the password masked and the cause, a non-zero exit, no stack trace.

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Each test starts `mdmgw serve` through tsx once or twice: about 10 s each on a loaded 2-core machine. */
const SPAWN_TIMEOUT = 120_000;
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function serve(args: string[], env: Record<string, string> = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-dburl-'));
  dirs.push(dir);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'serve', '--data-dir', dir, '--port', String(await freePort()), ...args], {
    cwd: ROOT,
    env: { ...process.env, MDMGW_ADMIN_TOKEN: '', MDMGW_DATABASE_URL: '', MDMGW_CA_PASSPHRASE: 'database url test passphrase', MDMGW_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, out };
}

function expectOneCleanLine(r: { code: number | null; out: string }, secret: string) {
  expect(r.code, r.out).toBe(1);
  expect(r.out).not.toContain(secret);
  expect(r.out).not.toMatch(/^\s+at /m); // no stack trace
  expect(r.out.trim().split('\n')).toHaveLength(1);
}

describe('mdmgw serve with a database URL that cannot work', () => {
  it('nothing listening on the port: ECONNREFUSED, the URL with its password masked (env and --database-url)', async () => {
    const port = await freePort();
    const url = `postgres://mdmgw:s3cret-pw@127.0.0.1:${port}/mdmgw`;
    for (const r of [await serve([], { MDMGW_DATABASE_URL: url }), await serve(['--database-url', url])]) {
      expectOneCleanLine(r, 's3cret-pw');
      expect(r.out).toContain(`mdmgw: cannot open the PostgreSQL database postgres://mdmgw:****@127.0.0.1:${port}/mdmgw: connect ECONNREFUSED`);
    }
  }, SPAWN_TIMEOUT);

  it('a postgres URL without a database name is refused before connecting', async () => {
    const r = await serve(['--database-url', 'postgres://mdmgw:s3cret-pw@127.0.0.1:5432']);
    expectOneCleanLine(r, 's3cret-pw');
    expect(r.out).toContain('MDMGW_DATABASE_URL postgres://mdmgw:****@127.0.0.1:5432 names no database');
  }, SPAWN_TIMEOUT);
});

const skip = pgSkipReason();
describe.skipIf(skip !== null)(`mdmgw serve on PostgreSQL${skip ? `: ${skip}` : ''}`, () => {
  afterAll(dropAllPostgresDatabases);

  it('a wrong password: "password authentication failed", masked', async () => {
    const u = new URL(TEST_PG_URL!);
    u.password = 'wrong-pw-123';
    const r = await serve(['--database-url', u.toString()]);
    expectOneCleanLine(r, 'wrong-pw-123');
    expect(r.out).toMatch(/cannot open the PostgreSQL database postgres:\/\/[^:]+:\*\*\*\*@127\.0\.0\.1:\d+\/\w+: password authentication failed for user "[^"]+" \(28P01\)/);
  }, SPAWN_TIMEOUT);

  it('an unknown database: named in the message', async () => {
    const u = new URL(TEST_PG_URL!);
    u.pathname = '/no_such_database';
    const r = await serve(['--database-url', u.toString()]);
    expectOneCleanLine(r, decodeURIComponent(u.password));
    expect(r.out).toContain('database "no_such_database" does not exist (3D000)');
  }, SPAWN_TIMEOUT);

  it('a reachable database: serves from it (--database-url), /readyz ready', async () => {
    const db = await freshPostgresDatabase();
    const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-dburl-'));
    dirs.push(dir);
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'serve', '--data-dir', dir, '--port', String(port), '--database-url', db.url], {
      cwd: ROOT,
      env: { ...process.env, MDMGW_ADMIN_TOKEN: '', MDMGW_DATABASE_URL: '', MDMGW_CA_PASSPHRASE: 'database url test passphrase', MDMGW_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const until = Date.now() + 30_000;
    let status = 0;
    while (Date.now() < until && status !== 200) {
      status = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0);
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
    // The start-up line says which database, without its password.
    const password = decodeURIComponent(new URL(db.url).password);
    expect(out).toContain(`"database":"${db.url.replace(`:${new URL(db.url).password}@`, ':****@')}"`);
    expect(out).not.toContain(password);
  }, SPAWN_TIMEOUT);
});
