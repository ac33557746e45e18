import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import path from 'node:path';
import { freePort } from '../../src/free-port.js';

// Several gateway processes behind one load balancer, as docs/scale-out.md
// describes: each instance is `mdmgw serve` in its own process (its own data
// directory, one shared database), and a round-robin proxy in front sends each
// request to the next instance, skipping one that does not answer (as a load
// balancer's health check would).

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface Instance {
  name: string;
  url: string;
  dataDir: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** Starts `mdmgw serve` on a free port; resolves once it answers /readyz. */
export async function startInstance(name: string, dataDir: string, env: Record<string, string>, readyWithinMs = 120_000): Promise<Instance> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'serve', '--port', String(port), '--data-dir', dataDir], {
    cwd: ROOT,
    env: { ...process.env, MDMGW_ADMIN_TOKEN: '', MDMGW_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const instance: Instance = { name, url: `http://127.0.0.1:${port}`, dataDir, child, output: () => out, exited };
  const until = Date.now() + readyWithinMs;
  let gone = false;
  void exited.then(() => (gone = true));
  while (Date.now() < until && !gone) {
    try {
      if ((await fetch(`${instance.url}/readyz`)).status === 200) return instance;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGKILL');
  throw new Error(`instance ${name} did not become ready:\n${out}`);
}

export interface RoundRobin {
  url: string;
  /** Which backend answered each request, in order (index into backends). */
  served: number[];
  setBackends(urls: string[]): void;
  stop(): Promise<void>;
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length']);

function forwardHeaders(h: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}

export async function startRoundRobin(): Promise<RoundRobin> {
  let backends: string[] = [];
  let next = 0;
  const served: number[] = [];
  const attempt = (i: number, method: string, url: string, headers: Record<string, string | string[]>, body: Buffer) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const target = new URL(url, backends[i]);
      const req = request(target, { method, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const start = next++;
      for (let k = 0; k < backends.length; k++) {
        const i = (start + k) % backends.length;
        try {
          const r = await attempt(i, req.method ?? 'GET', req.url ?? '/', forwardHeaders(req.headers), body);
          served.push(i);
          const headers = forwardHeaders(r.headers);
          res.writeHead(r.status, headers);
          res.end(r.body);
          return;
        } catch {
          /* that instance is down: the next one */
        }
      }
      res.writeHead(502).end('no instance answered');
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    served,
    setBackends: (urls) => {
      backends = urls;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
