import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CA_CAPABILITIES } from '../../src/scep/service.js';
import { freePort, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { reissueRa } from '../doctor/ra-reissue.js';

// `mdmgw doctor` as an operator runs it: a real process against a real
// gateway (its URL, or its data directory), and against broken setups.

const ROOT = path.resolve(import.meta.dirname, '../..');
const DAY = 24 * 3600_000;
const FAMILIES = ['Apple (iOS, macOS)', 'Windows 10/11', 'Windows 8.1', 'Android agent', 'certmonger', 'micromdm scepclient', 'sscep'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function doctor(args: string[], env: Record<string, string> = {}): Promise<Run> {
  // The doctor reads MDMGW_* like serve does: none leak in from the test runner's environment.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MDMGW_')));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'doctor', ...args], {
    cwd: ROOT,
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** The client line for `family` (first line of it). */
function clientLine(out: string, family: string): string {
  const clients = out.slice(out.indexOf('\nClients\n'));
  const line = clients.split('\n').find((l) => l.includes(`  ${family}  `));
  if (!line) throw new Error(`no line for ${family} in:\n${out}`);
  return line;
}

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t?.stop();
});

describe('mdmgw doctor', () => {
  it('--url against a healthy running gateway: exit 0, every check ran, one line per client family', async () => {
    const r = await doctor(['--url', t.url]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`GetCACaps: ${CA_CAPABILITIES.join(' ')}`);
    expect(r.stdout).toContain('GetCACert: application/x-x509-ca-ra-cert with the RA and the CA');
    expect(r.stdout).toContain('RA keyUsage digitalSignature, keyEncipherment');
    expect(r.stdout).not.toContain('PROBLEM');
    for (const family of FAMILIES) expect(clientLine(r.stdout, family)).toMatch(/^ {2}(OK|WARN) /);
    // A lab gateway on http: the clients that need https say so, with the fix.
    expect(clientLine(r.stdout, 'Apple (iOS, macOS)')).toMatch(/WARN .*plain http.*fix: put TLS in front/);
    expect(clientLine(r.stdout, 'certmonger')).toMatch(/^ {2}OK /);
  }, 120_000);

  it('--json with the admin token: machine-readable, the APNs check answered by the admin API', async () => {
    const r = await doctor(['--url', t.url, '--json'], { MDMGW_ADMIN_TOKEN: t.gw.adminToken });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { problems: number; clients: { name: string; status: string }[]; checks: { check: string; findings: { message: string }[]; skipped?: string }[] };
    expect(report.problems).toBe(0);
    expect(report.clients.map((c) => c.name)).toEqual(FAMILIES);
    const apns = report.checks.find((c) => c.check === 'apns')!;
    // This gateway runs without the Apple adapter: the admin API says so rather than "no token".
    expect(apns.findings[0]!.message).toContain('the Apple adapter is not enabled');
    expect(report.checks.filter((c) => c.skipped)).toEqual([]);
  }, 120_000);

  it('config mode on the running gateway\'s data directory: exit 0, and the public URL serves these certificates', async () => {
    const r = await doctor(['--data-dir', t.dataDir], { MDMGW_PUBLIC_URL: t.url });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`ca.pem and ra.pem in ${t.dataDir}`);
    expect(r.stdout).toContain('no APNs push certificate');
    for (const family of FAMILIES) clientLine(r.stdout, family);
  }, 120_000);

  it('an RA re-issued without keyEncipherment: exit 1, the RA line names it and the fix, every client FAILs', async () => {
    const g = await startTestGateway();
    try {
      const now = Date.now();
      await reissueRa(g.dataDir, { usages: ['digitalSignature'], notBefore: new Date(now - DAY), notAfter: new Date(now + 300 * DAY) });
      const r = await doctor(['--data-dir', g.dataDir], { MDMGW_PUBLIC_URL: g.url });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/PROBLEM {2}RA certificate keyUsage lacks keyEncipherment: clients cannot encrypt their request to it/);
      expect(r.stdout).toContain('fix: delete ra.pem and ra.key');
      // The running gateway still serves the RA it loaded: the doctor notices the public URL serves another one.
      expect(r.stdout).toContain('the public URL serves another RA certificate');
      for (const family of FAMILIES) expect(clientLine(r.stdout, family)).toMatch(/^ {2}FAIL /);
      expect(clientLine(r.stdout, 'micromdm scepclient')).toMatch(/FAIL .*lacks keyEncipherment/);
    } finally {
      await g.stop();
    }
  }, 180_000);

  it('an expired RA (and one without digitalSignature): exit 1, expiry and the certmonger failure named', async () => {
    const g = await startTestGateway();
    try {
      const now = Date.now();
      await reissueRa(g.dataDir, { usages: ['keyEncipherment'], notBefore: new Date(now - 800 * DAY), notAfter: new Date(now - 2 * DAY) });
      const r = await doctor(['--data-dir', g.dataDir, '--json'], { MDMGW_PUBLIC_URL: g.url });
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout) as { checks: { check: string; findings: { severity: string; message: string; fix?: string }[] }[]; clients: { client: string; status: string; summary: string }[] };
      const ra = report.checks.find((c) => c.check === 'ra-certificate')!.findings;
      expect(ra).toContainEqual(expect.objectContaining({ severity: 'problem', message: expect.stringMatching(/^RA certificate expired on /), fix: expect.stringContaining('restart the gateway') }));
      expect(ra).toContainEqual(expect.objectContaining({ severity: 'problem', message: expect.stringContaining('lacks digitalSignature') }));
      expect(report.clients.find((c) => c.client === 'certmonger')!.summary).toContain('lacks digitalSignature');
    } finally {
      await g.stop();
    }
  }, 180_000);

  it('--url to a server answering GetCACert with the wrong Content-Type: exit 1, the GetCACert line and its fix', async () => {
    // A stand-in for a proxy that rewrites the type: the gateway's own caps and PKCS#7, under application/x-x509-ca-cert.
    const server: Server = createServer(async (req, res) => {
      const op = new URL(req.url ?? '/', 'http://x').searchParams.get('operation');
      if (op === 'GetCACaps') res.writeHead(200, { 'content-type': 'text/plain' }).end(await t.gw.scep.caCaps());
      else if (op === 'GetCACert') res.writeHead(200, { 'content-type': 'application/x-x509-ca-cert' }).end(Buffer.from(await t.gw.scep.caCert()));
      else if (op === 'PKIOperation') res.writeHead(400, { 'content-type': 'text/plain' }).end('PKIOperation by GET needs a message= parameter\n');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      const r = await doctor(['--url', `http://127.0.0.1:${port}/certsrv/mscep/mscep.dll`]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/GetCACert +PROBLEM {2}GetCACert answered Content-Type "application\/x-x509-ca-cert", not application\/x-x509-ca-ra-cert/);
      expect(r.stdout).toContain('fix: serve GetCACert straight from the gateway');
      expect(clientLine(r.stdout, 'sscep')).toMatch(/FAIL .*x-x509-ca-cert.*-> fix: serve GetCACert straight from the gateway/);
    } finally {
      server.close();
    }
  }, 120_000);

  it('--url to a closed port: exit 1 with a clear unreachable message', async () => {
    const port = await freePort(); // nothing listens there once freePort returns
    const r = await doctor(['--url', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`http://127.0.0.1:${port}/certsrv/mscep/mscep.dll is unreachable: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(r.stdout).toContain('fix: check the URL, that the gateway runs (mdmgw serve)');
    expect(clientLine(r.stdout, 'Windows 10/11')).toMatch(/FAIL .*unreachable/);
  }, 120_000);

  it('usage errors exit 2 with a message: a bad URL, an unknown option', async () => {
    const bad = await doctor(['--url', 'ftp://mdm.example.com']);
    expect([bad.code, bad.stderr]).toEqual([2, 'mdmgw doctor: --url: must start with http:// or https:// (got ftp:)\n']);
    const unknown = await doctor(['--frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--frobnicate'");
  }, 120_000);
});
