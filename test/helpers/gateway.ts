import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/log.js';
import { listen } from '../../src/server.js';
import type { PlatformAdapter } from '../../src/core/adapter.js';
import { freePort } from '../../src/free-port.js';

export { freePort };

// Starts a real gateway (real SQLite file, generated CA, real HTTP server on
// 127.0.0.1) exactly as `mdmgw serve` builds it.

export interface TestGateway {
  gw: Gateway;
  url: string;
  /** The admin listener's URL when MDMGW_ADMIN_LISTEN is set (then `api` talks to it), else null. */
  adminUrl: string | null;
  scepUrl: string;
  dataDir: string;
  api: ApiClient;
  stop(): Promise<void>;
}

export async function startTestGateway(
  opts: { env?: Record<string, string>; adapters?: PlatformAdapter[]; dataDir?: string; logTo?: NodeJS.WritableStream; now?: () => Date } = {},
): Promise<TestGateway> {
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'mdmgw-test-')));
  const port = await freePort();
  const config = loadConfig({
    flags: { port: String(port), host: '127.0.0.1', dataDir },
    // The SCEP failure budget is off unless a test sets it: many tests send dozens of refused requests from 127.0.0.1.
    env: { MDMGW_LOG_LEVEL: process.env.MDMGW_TEST_LOG_LEVEL ?? 'silent', MDMGW_CLIENT_CERT_HEADER: 'X-Client-Cert', MDMGW_SCEP_FAILURE_BUDGET: '0', ...opts.env },
    cwd: dataDir,
  });
  const gw = await createGateway(config, createLogger(opts.logTo ? 'trace' : config.logLevel, opts.logTo), opts.adapters ?? [], { now: opts.now });
  const running = await listen(gw);
  return {
    gw,
    url: running.url,
    adminUrl: running.adminUrl,
    scepUrl: gw.scepUrl,
    dataDir,
    api: new ApiClient(`${running.adminUrl ?? running.url}/api/v1`, gw.adminToken),
    stop: async () => {
      await running.close();
      await gw.close();
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export class ApiClient {
  constructor(
    readonly base: string,
    readonly token: string,
  ) {}

  async call(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(this.base + p, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  /** POST/GET that must succeed with the given status; returns the body. */
  async ok(method: string, p: string, body?: unknown, expected = method === 'POST' ? 201 : 200): Promise<any> {
    const r = await this.call(method, p, body);
    if (r.status !== expected) throw new Error(`${method} ${p}: expected ${expected}, got ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }
}
