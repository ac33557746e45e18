import { execFile, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestGateway } from './gateway.js';

// Shared pieces of the interop suites (test/interop): real SCEP clients that
// nobody here wrote, driven against a real gateway through a recording proxy.

const run = promisify(execFile);

/** Fails (never skips) when a Debian package the interop suite needs is missing. */
export function requireBinary(file: string, debianPackage: string): void {
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new Error(`${file} is missing: the interop tests need the Debian package "${debianPackage}" (apt-get install ${debianPackage}; CI does this in .ci/run)`);
  }
}

export async function genrsa(file: string, bits = 2048): Promise<void> {
  await run('openssl', ['genrsa', '-traditional', '-out', file, String(bits)]);
}

export async function x509(file: string, ...args: string[]): Promise<string> {
  return (await run('openssl', ['x509', '-in', file, '-noout', ...args])).stdout.trim();
}

export interface ProcResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** true when the process group was killed for running too long. */
  timedOut: boolean;
}

/**
 * Runs a command in its own process group and, on timeout, kills the whole
 * group (dbus-run-session's bus and a certmonger daemon included), so no test
 * leaves processes behind.
 */
export function runGroup(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<ProcResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      // Anything still in the group (a daemon the script forgot) goes too.
      killGroup();
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

// ---- gateway-side helpers ---------------------------------------------------------

export interface AuditEvent {
  id: number;
  transactionId: string | null;
  type: string;
  reasonCode: string | null;
  details: Record<string, any>;
}

export async function auditMark(t: TestGateway): Promise<number> {
  const events: AuditEvent[] = await t.api.ok('GET', '/audit?limit=1');
  return events.at(-1)?.id ?? 0;
}

/** Audit events newer than `mark` (at most the newest 1000), optionally of one type. */
export async function auditSince(t: TestGateway, mark: number, type?: string): Promise<AuditEvent[]> {
  const q = type ? `&type=${encodeURIComponent(type)}` : '';
  const events: AuditEvent[] = await t.api.ok('GET', `/audit?limit=1000${q}`);
  return events.filter((e) => e.id > mark);
}

export async function refusalsSince(t: TestGateway, mark: number): Promise<AuditEvent[]> {
  return (await auditSince(t, mark)).filter((e) => e.reasonCode !== null);
}

export async function mintChallengeFor(t: TestGateway, profileId: string, deviceId: string): Promise<string> {
  return (await t.api.ok('POST', '/challenges', { profileId, deviceId })).challenge as string;
}

/** Flips one character in the middle of a challenge (keeps the alphabet). */
export function tamper(challenge: string): string {
  const i = Math.floor(challenge.length / 2);
  return challenge.slice(0, i) + (challenge[i] === 'A' ? 'B' : 'A') + challenge.slice(i + 1);
}

export async function makeDir(...parts: string[]): Promise<string> {
  const d = path.join(...parts);
  await mkdir(d, { recursive: true });
  return d;
}

export async function readText(file: string): Promise<string> {
  return readFile(file, 'utf8');
}

// ---- certmonger ---------------------------------------------------------------------

/**
 * A private certmonger: its HOME/XDG dirs (and so its state under
 * ~/.config/certmonger) live in `home`, it runs on a private session bus
 * (dbus-run-session), and it is killed when the script ends or times out.
 * `script` runs after the daemon owns its bus name (waiting for that keeps
 * getcert from D-Bus-activating a second daemon). The daemon's debug log
 * accumulates in `<home>/certmonger.log`.
 */
export async function certmongerSession(home: string, script: string, timeoutMs = 30_000): Promise<ProcResult> {
  await mkdir(path.join(home, 'run'), { recursive: true, mode: 0o700 });
  const log = path.join(home, 'certmonger.log');
  const body = `
set -u
: > '${log}.cur'
certmonger -s -n -d 3 >> '${log}.cur' 2>&1 &
CM=$!
trap 'kill $CM 2>/dev/null; wait $CM 2>/dev/null; cat "${log}.cur" >> "${log}"' EXIT
i=0
until grep -q 'Connected to session message bus' '${log}.cur'; do
  i=$((i+1)); if [ $i -gt 200 ]; then echo 'certmonger did not connect to the session bus' >&2; exit 97; fi
  sleep 0.05
done
${script}
`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local/share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    XDG_RUNTIME_DIR: path.join(home, 'run'),
    LANG: 'C',
    // As root, certmonger keeps its state in /var/lib/certmonger even with -s
    // (session mode); these move all of it into `home`.
    CERTMONGER_CONFIG_DIR: path.join(home, 'state'),
    CERTMONGER_REQUESTS_DIR: path.join(home, 'state/requests'),
    CERTMONGER_CAS_DIR: path.join(home, 'state/cas'),
    CERTMONGER_LOCAL_CA_DIR: path.join(home, 'state/local'),
    CERTMONGER_TMPDIR: path.join(home, 'state/tmp'),
    CERTMONGER_SYSTEM_LOCK_FILE: path.join(home, 'state/lock'),
  };
  for (const d of ['requests', 'cas', 'local', 'tmp']) await mkdir(path.join(home, 'state', d), { recursive: true, mode: 0o700 });
  return runGroup('dbus-run-session', ['--', 'sh', '-c', body], { env, timeoutMs });
}

/** `getcert list -s` output for one request id: field -> value. */
export function parseGetcertList(out: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^\t([a-z][a-z -]*?): ?(.*)$/.exec(line);
    if (m) fields[m[1]!] = m[2]!;
  }
  return fields;
}
