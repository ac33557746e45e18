// A server under measurement in its own process: the gateway (`mdmgw serve`
// through tsx, as a user runs it) or micromdm's scepserver. CPU is the
// process's own utime+stime from /proc, so the load generator's work (this
// process) is never counted: the machine is shared and wall-clock numbers are
// noisy, CPU per operation is what the bench reports (issue 13).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/free-port.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ServerProcess {
  url: string;
  pid: number;
  dataDir: string;
  /** utime+stime of the process so far, in ms (10 ms resolution). */
  cpuMs(): number;
  /** Resident set size now, and the peak so far (VmHWM), in MiB. */
  rssMiB(): { now: number; peak: number };
  stop(): Promise<void>;
}

export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" of the command name: state is field 3, utime 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND;
}

export function rssOf(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function waitForOutput(child: ChildProcess, pattern: RegExp, what: string, timeoutMs = 120_000): Promise<void> {
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs / 1000} s:\n${seen.slice(-2000)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${seen.slice(-2000)}`));
    });
  });
}

function stopper(child: ChildProcess, cleanup: () => Promise<void>): () => Promise<void> {
  return async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await cleanup();
  };
}

/** `mdmgw serve` on a free port with a fresh data directory (or `dataDir`); logs go to a file in it. */
export async function startGatewayProcess(o: { dataDir?: string; env?: Record<string, string> } = {}): Promise<ServerProcess & { adminToken: string }> {
  const dataDir = o.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'mdmgw-bench-')));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // BENCH_CPU_PROF=dir: a V8 CPU profile of the gateway, written there when it stops (read the top frames).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  // BENCH_HEAPSNAPSHOT_DIR=dir: `kill -USR2 <pid>` writes a heap snapshot of the gateway there (leak hunting, the soak).
  if (process.env.BENCH_HEAPSNAPSHOT_DIR) prof.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${process.env.BENCH_HEAPSNAPSHOT_DIR}`);
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'serve', '-p', String(port), '-d', dataDir], {
    cwd: ROOT,
    env: { ...process.env, MDMGW_PUBLIC_URL: url, MDMGW_LOG_LEVEL: process.env.MDMGW_LOG_LEVEL ?? 'info', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await waitForOutput(child, /mdm-gateway listening/, 'the gateway');
  // Keep reading its log so a full pipe never blocks it (what a log collector does).
  child.stdout?.resume();
  child.stderr?.resume();
  const adminToken = (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
  return {
    url,
    pid: child.pid!,
    dataDir,
    adminToken,
    cpuMs: () => cpuMsOf(child.pid!),
    rssMiB: () => rssOf(child.pid!),
    stop: stopper(child, () => (o.dataDir ? Promise.resolve() : rm(dataDir, { recursive: true, force: true }))),
  };
}

/** Debian's micromdm scepserver with a new RSA-2048 CA (`scepserver ca -init`) and a static challenge; null when it is not installed. */
export async function startScepserver(challenge: string): Promise<ServerProcess | null> {
  const bin = '/usr/bin/scepserver';
  try {
    readFileSync(bin);
  } catch {
    return null;
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'scepserver-bench-'));
  const depot = path.join(dir, 'depot');
  await new Promise<void>((resolve, reject) => {
    const init = spawn(bin, ['ca', '-init', '-depot', depot, '-keySize', '2048', '-organization', 'Bench'], { stdio: 'ignore' });
    init.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`scepserver ca -init exited with ${code}`))));
  });
  const port = await freePort();
  const child = spawn(bin, ['-depot', depot, '-port', String(port), '-challenge', challenge, '-allowrenew', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(child, /listen|starting/i, 'scepserver', 30_000);
  child.stdout?.resume();
  child.stderr?.resume();
  // It says "starting" before its listener is bound: wait until it answers.
  await answering(`http://127.0.0.1:${port}/scep?operation=GetCACaps`, 30_000);
  return {
    url: `http://127.0.0.1:${port}/scep`,
    pid: child.pid!,
    dataDir: dir,
    cpuMs: () => cpuMsOf(child.pid!),
    rssMiB: () => rssOf(child.pid!),
    stop: stopper(child, () => rm(dir, { recursive: true, force: true })),
  };
}

async function answering(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.ok) return;
    } catch (e) {
      if (Date.now() > until) throw new Error(`${url} did not answer within ${timeoutMs / 1000} s: ${(e as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The admin API of a started gateway: JSON in and out, an Error naming the call on any status of 300 or more. */
export function apiOf(gw: { url: string; adminToken: string }) {
  return async (method: string, p: string, body?: unknown) => {
    const r = await fetch(`${gw.url}/api/v1${p}`, { method, headers: { authorization: `Bearer ${gw.adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (r.status >= 300) throw new Error(`${method} ${p}: HTTP ${r.status} ${text.slice(0, 200)}`);
    return text ? JSON.parse(text) : null;
  };
}

/** The gateway's own /metrics (prom-client, prefix mdmgw_) as text. */
export async function metricsText(gw: { url: string; adminToken: string }): Promise<string> {
  return (await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${gw.adminToken}` } })).text();
}

/** A sample of `text`, summed over its labelled series (a histogram's `_sum` by GC kind); null when it has none. */
export function metricValue(text: string, name: string): number | null {
  let sum: number | null = null;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))) sum = (sum ?? 0) + Number(m[1]);
  return sum;
}
