import { chmod, chown, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../src/adapters/android/index.js';
import { AndroidAgentSim, PIXEL_8 } from '../../src/sim/android.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Security issue #15, S6: "When the data directory already exists (say 0755),
// it is left as is and mdmgw.sqlite is created 0644; it holds unspent Android
// challenges in platform_state, so any local user can read one and enroll a
// certificate." Every start makes the directory 0700 and every file in it
// 0600, SQLite's -wal and -shm included, or refuses to start.

const dirs: string[] = [];
const running: TestGateway[] = [];
afterEach(async () => {
  for (const t of running.splice(0)) await t.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const mode = async (p: string) => (await stat(p)).mode & 0o777;

async function modesIn(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await readdir(dir)) out[name] = (await mode(path.join(dir, name))).toString(8);
  return out;
}

async function start(dataDir: string) {
  const t = await startTestGateway({ dataDir, adapters: [androidAdapter] });
  running.push(t);
  return t;
}

describe('data directory permissions', () => {
  it('fixes a pre-existing 0755 directory with 0644 files; the database and its -wal/-shm end up 0600', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-perm-'));
    dirs.push(dir);
    // A first start writes keys and a database holding an Android device's unspent challenge.
    const first = await start(dir);
    const user = await first.api.ok('POST', '/users', { userPrincipalName: 'perm@contoso.com', email: 'perm@contoso.com', displayName: 'P' });
    const token = await first.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
    const enrolled = await new AndroidAgentSim(first.url).postEnroll(token.enrollmentUrl, PIXEL_8);
    expect(enrolled.status).toBe(201);
    await running.pop()!.stop();

    // What an older version, a backup restore or a 022 umask leaves behind.
    await chmod(dir, 0o755);
    for (const name of await readdir(dir)) await chmod(path.join(dir, name), 0o644);
    await writeFile(path.join(dir, 'notes.txt'), 'operator notes\n', { mode: 0o644 });
    await chmod(path.join(dir, 'notes.txt'), 0o644);

    await start(dir);
    expect(await mode(dir)).toBe(0o700);
    const files = await modesIn(dir);
    // While the gateway runs, SQLite keeps its WAL and shared-memory files next to the database.
    expect(Object.keys(files)).toEqual(expect.arrayContaining(['mdmgw.sqlite', 'mdmgw.sqlite-wal', 'mdmgw.sqlite-shm', 'ca.key', 'admin-token', 'notes.txt']));
    expect(Object.entries(files).filter(([, m]) => m !== '600')).toEqual([]);
  });

  it('makes a fresh directory 0700 with every file 0600, whatever the umask', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'mdmgw-perm-'));
    dirs.push(parent);
    const dir = path.join(parent, 'data');
    await start(dir);
    expect(await mode(dir)).toBe(0o700);
    const files = await modesIn(dir);
    expect(files).toMatchObject({ 'mdmgw.sqlite': '600', 'mdmgw.sqlite-wal': '600', 'mdmgw.sqlite-shm': '600', 'ca.pem': '600' });
    expect(Object.entries(files).filter(([, m]) => m !== '600')).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)('refuses to start when a file in it belongs to another user, naming the file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-perm-'));
    dirs.push(dir);
    const foreign = path.join(dir, 'mdmgw.sqlite');
    await writeFile(foreign, '', { mode: 0o644 });
    await chown(foreign, 65534, 65534);
    const err = await start(dir).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe('DataDirectoryError');
    expect(err?.message).toContain(foreign);
    expect(err?.message).toMatch(/owned by uid 65534/);
    expect(await mode(foreign)).toBe(0o644); // nothing was opened or written
  });
});
