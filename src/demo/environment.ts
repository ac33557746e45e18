import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { androidAdapter } from '../adapters/android/index.js';
import { createAppleAdapter } from '../adapters/apple/index.js';
import { windowsAdapter } from '../adapters/windows/index.js';
import { loadConfig } from '../config.js';
import { createGateway, type Gateway } from '../gateway.js';
import { createLogger } from '../log.js';
import { listen } from '../server.js';
import { FakeApns, pushCertificate } from '../sim/fake-apns.js';
import { freePort } from '../free-port.js';

// The demo's world: a real gateway (as `mdmgw serve` builds it, all three
// adapters) on a fresh temporary data dir and a free 127.0.0.1 port, and a
// local stand-in for APNs (no Apple server is contacted) whose push
// certificate the admin uploads like a real one.

/** The APNs topic of the simulated push certificate. */
export const DEMO_TOPIC = 'com.apple.mgmt.External.de000000-0000-4000-8000-00000000de00';
/** The header the simulators put their identity certificate in: the demo has no TLS, as behind a TLS proxy. */
const CLIENT_CERT_HEADER = 'X-Client-Cert';

export interface DemoEnvironment {
  url: string;
  dataDir: string;
  apns: FakeApns;
  admin: AdminClient;
  /** Stops the servers and removes the data dir; safe to call twice and after a partial start. */
  close(): Promise<void>;
}

/**
 * Everything started so far is registered with `cleanup` first, so a failure half way leaves nothing behind.
 * `keepDataDir`: use that directory (new or empty) instead of a temporary one, and keep it.
 */
export async function startDemoEnvironment(cleanup: Cleanup, keepDataDir?: string): Promise<DemoEnvironment> {
  const dataDir = keepDataDir ? await emptyDir(keepDataDir) : await mkdtemp(path.join(tmpdir(), 'mdmgw-demo-'));
  if (!keepDataDir) cleanup.add(() => rm(dataDir, { recursive: true, force: true }));
  const apns = await FakeApns.start();
  cleanup.add(() => apns.stop());
  const config = loadConfig({
    flags: { port: String(await freePort()), host: '127.0.0.1', dataDir },
    // Not process.env: the demo must not pick up a production configuration.
    env: { MDMGW_LOG_LEVEL: 'silent', MDMGW_CLIENT_CERT_HEADER: CLIENT_CERT_HEADER, MDMGW_APNS_URL: apns.url },
    cwd: dataDir,
  });
  const adapters = [windowsAdapter, createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem }), androidAdapter];
  const gw: Gateway = await createGateway(config, createLogger(config.logLevel), adapters);
  cleanup.add(() => gw.close());
  const running = await listen(gw);
  cleanup.add(() => running.close());
  return { url: running.url, dataDir, apns, admin: new AdminClient(`${running.url}/api/v1`, gw.adminToken), close: () => cleanup.run() };
}

/** Creates `dir` if needed; refuses one with files in it (the demo would otherwise mix into a real gateway's state). */
async function emptyDir(dir: string): Promise<string> {
  const abs = path.resolve(dir);
  await mkdir(abs, { recursive: true, mode: 0o700 });
  if ((await readdir(abs)).length > 0) throw new Error(`--data-dir ${abs} is not empty: give a new or empty directory`);
  return abs;
}

/** Uploads a push certificate issued by the simulated APNs' CA, as an admin uploads Apple's. */
export async function uploadPushCertificate(env: DemoEnvironment): Promise<void> {
  const push = await pushCertificate(env.apns.ca, DEMO_TOPIC);
  await env.admin.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
}

/** Undo steps run newest first; each runs once even when close() is called again (Ctrl-C during cleanup). */
export class Cleanup {
  private steps: (() => Promise<unknown>)[] = [];
  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      await step().catch(() => undefined); // keep going: the data dir must go even when a server would not stop cleanly
    }
  }
}

/** The admin API with the gateway's token. */
export class AdminClient {
  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  /** A call that must answer `expected`; otherwise an error naming the call, the status and the gateway's reason. */
  async ok(method: string, p: string, body?: unknown, expected = method === 'POST' ? 201 : 200): Promise<any> {
    const res = await fetch(this.base + p, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== expected) throw new Error(`${method} /api/v1${p}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : null;
  }
}
