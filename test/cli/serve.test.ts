import { spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/gateway.js';

// `mdmgw serve` as a user runs it: a real process, embedded defaults, a fresh data dir.

const ROOT = path.resolve(import.meta.dirname, '../..');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function serve(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'serve', ...args], {
    cwd: ROOT,
    env: { ...process.env, MDMGW_ADMIN_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitHealthy(url: string, ms = 30_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('gateway did not become healthy');
}

describe('mdmgw serve', () => {
  it('starts on its embedded defaults, writes the admin token 0600 and says where', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-serve-'));
    try {
      const port = await freePort();
      const p = serve(['--port', String(port), '--data-dir', dir]);
      const url = `http://127.0.0.1:${port}`;
      await waitHealthy(url);
      const tokenFile = path.join(dir, 'admin-token');
      expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
      const token = (await readFile(tokenFile, 'utf8')).trim();
      expect(token.length).toBeGreaterThanOrEqual(32);
      // Log lines reach stdout within LOG_FLUSH_MS (src/log.ts), not at once.
      await expect.poll(() => p.output(), { timeout: 5000 }).toContain(tokenFile);
      expect(p.output()).not.toContain(token);
      for (const f of ['ca.pem', 'ca.key', 'ra.pem', 'ra.key', 'challenge-signing.key', 'mdmgw.sqlite']) {
        await stat(path.join(dir, f));
      }
      expect((await fetch(`${url}/api/v1/users`)).status).toBe(401);
      expect((await fetch(`${url}/api/v1/users`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      const caps = await (await fetch(`${url}/certsrv/mscep/mscep.dll?operation=GetCACaps`)).text();
      expect(caps).toContain('SCEPStandard');
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps what it creates private (umask 077) and refuses a data directory it cannot keep private', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-serve-'));
    try {
      const port = await freePort();
      const p = serve(['--port', String(port), '--data-dir', dir]);
      await waitHealthy(`http://127.0.0.1:${port}`);
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
      for (const f of await readdir(dir)) expect([f, (await stat(path.join(dir, f))).mode & 0o777]).toEqual([f, 0o600]);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);

      if (process.getuid?.() === 0) {
        await chown(path.join(dir, 'admin-token'), 65534, 65534);
        const refused = serve(['--port', String(port), '--data-dir', dir]);
        expect(await refused.exited).toBe(1);
        expect(refused.output()).toContain(`mdmgw: ${path.join(dir, 'admin-token')} is owned by uid 65534`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('with --admin-listen serves the admin API only on that address (operations issue #14, item 7)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-serve-'));
    try {
      const [port, adminPort] = [await freePort(), await freePort()];
      const p = serve(['--port', String(port), '--data-dir', dir, '--admin-listen', `127.0.0.1:${adminPort}`]);
      const [url, adminUrl] = [`http://127.0.0.1:${port}`, `http://127.0.0.1:${adminPort}`];
      await waitHealthy(url);
      await waitHealthy(adminUrl);
      const headers = { authorization: `Bearer ${(await readFile(path.join(dir, 'admin-token'), 'utf8')).trim()}` };
      expect((await fetch(`${adminUrl}/api/v1/users`, { headers })).status).toBe(200);
      expect((await fetch(`${url}/api/v1/users`, { headers })).status).toBe(404);
      expect((await fetch(`${url}/certsrv/mscep/mscep.dll?operation=GetCACaps`)).status).toBe(200);
      expect((await fetch(`${adminUrl}/certsrv/mscep/mscep.dll?operation=GetCACaps`)).status).toBe(404);
      expect(p.output()).toContain(`admin API on ${adminUrl}`);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad configuration with exit code 2 and a message naming the field', async () => {
    const p = serve([], { MDMGW_PORT: '99999', MDMGW_PUBLIC_URL: 'not a url' });
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/MDMGW_PORT/);
    expect(p.output()).toMatch(/MDMGW_PUBLIC_URL/);
  });

  it('refuses to start with an encrypted CA and no passphrase, naming the file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-serve-'));
    try {
      const port = await freePort();
      const first = serve(['--port', String(port), '--data-dir', dir], { MDMGW_CA_PASSPHRASE: 'correct horse battery' });
      await waitHealthy(`http://127.0.0.1:${port}`);
      first.child.kill('SIGTERM');
      await first.exited;
      const second = serve(['--port', String(port), '--data-dir', dir]);
      expect(await second.exited).toBe(1);
      expect(second.output()).toMatch(/ca\.key|MDMGW_CA_PASSPHRASE/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
