import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toPem } from '../../src/pem.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/openssl.js';

// Lifecycle issue #9, item 1: a relying party (here `openssl ocsp`, what
// FreeRADIUS and strongSwan use underneath) learns through our OCSP responder
// that a certificate was revoked through the admin API, within one request.

const run = promisify(execFile);

let t: TestGateway;
let dir: string;
let ocspUrl: string;
let device: { id: string };
let profile: { id: string };

beforeAll(async () => {
  t = await startTestGateway();
  dir = await tempDir('ocsp-interop-');
  ocspUrl = `${t.url}/ocsp`;
  await writeFile(path.join(dir, 'ca.pem'), t.gw.rootPem);
  device = await t.api.ok('POST', '/devices', { name: 'ocsp-1', platform: 'windows' });
  profile = await t.api.ok('POST', '/profiles', { name: 'ocsp', scope: 'device', subjectName: 'CN={{DeviceName}},O=Ocsp' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
});
afterAll(async () => {
  await t.stop();
});

/** Enrolls a certificate over SCEP and writes it as NAME.pem; returns its serial (lower-case hex). */
async function enrolled(name: string): Promise<string> {
  const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
  const r = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=ocsp-1, O=Ocsp', challenge });
  expect(r.status).toBe('SUCCESS');
  await writeFile(path.join(dir, `${name}.pem`), toPem(r.certificate!));
  const cert = new X509Certificate(r.certificate!);
  ocspUrl = ocspUrlIn(cert) ?? `${t.url}/ocsp`;
  return cert.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
}

/**
 * The OCSP URL a relying party finds in the certificate's AIA extension, when
 * certificates carry one (the gateway's public URL + /ocsp by default); until
 * then the tests ask the gateway's /ocsp directly.
 */
function ocspUrlIn(cert: X509Certificate): string | null {
  const url = /OCSP - URI:(\S+)/.exec(cert.infoAccess ?? '')?.[1] ?? null;
  if (url !== null) expect(url).toBe(`${t.url}/ocsp`);
  return url;
}

/** `openssl ocsp` as a relying party runs it; returns stdout + stderr (the verdict lines go to both). */
async function opensslOcsp(...args: string[]): Promise<string> {
  const r = await run('openssl', ['ocsp', '-CAfile', path.join(dir, 'ca.pem'), '-resp_text', ...args], { cwd: dir });
  return `${r.stdout}\n${r.stderr}`;
}

/** `extra` goes first: openssl wants a CertID digest (-sha256) before -cert. */
const query = (leaf: string, ...extra: string[]) => opensslOcsp(...extra, '-issuer', path.join(dir, 'ca.pem'), '-cert', path.join(dir, leaf), '-url', ocspUrl);

describe('openssl ocsp against the responder', () => {
  it('answers good with the nonce echoed, then revoked (time and reason) right after POST /certificates/:serial/revoke', async () => {
    const serial = await enrolled('leaf');
    const good = await query('leaf.pem');
    expect(good).toContain('Response verify OK');
    expect(good).toMatch(/leaf\.pem: good/);
    expect(good).toContain('OCSP Nonce');
    // A nonce that does not match would print "WARNING: no nonce in response" or "nonce verify error".
    expect(good).not.toMatch(/nonce verify error|no nonce in response/i);
    // The delegated responder signed it, not the CA.
    expect(good).toContain('Subject: CN=mdm-gateway OCSP Responder');
    expect(good).toMatch(/OCSP Signing/);
    expect(good).toMatch(/OCSP No Check/);

    const r = await t.api.call('POST', `/certificates/${serial}/revoke`, { reason: 'keyCompromise' });
    expect(r.status).toBe(200);
    const revoked = await query('leaf.pem');
    expect(revoked).toContain('Response verify OK');
    expect(revoked).toMatch(/leaf\.pem: revoked/);
    expect(revoked).toMatch(/Reason: keyCompromise/);
    const time = /Revocation Time: (.+)/.exec(revoked)?.[1];
    expect(new Date(time!).getTime()).toBe(Math.floor(new Date(r.body.revokedAt).getTime() / 1000) * 1000);
  });

  it('answers without a nonce (-no_nonce), and a cached good stops the moment the certificate is revoked', async () => {
    const serial = await enrolled('leaf2');
    const first = await query('leaf2.pem', '-no_nonce');
    expect(first).toContain('Response verify OK');
    expect(first).toMatch(/leaf2\.pem: good/);
    expect(first).not.toContain('OCSP Nonce');
    expect(await query('leaf2.pem', '-no_nonce')).toMatch(/leaf2\.pem: good/); // now from the cache
    await t.api.ok('POST', `/certificates/${serial}/revoke`, { reason: 'cessationOfOperation' }, 200);
    const after = await query('leaf2.pem', '-no_nonce');
    expect(after).toMatch(/leaf2\.pem: revoked/);
    expect(after).toMatch(/Reason: cessationOfOperation/);
  });

  it('matches SHA-256 CertIDs too', async () => {
    await enrolled('leaf3');
    const out = await query('leaf3.pem', '-sha256');
    expect(out).toContain('Response verify OK');
    expect(out).toMatch(/leaf3\.pem: good/);
    expect(out).toMatch(/Hash Algorithm: sha256/);
  });

  it('answers unknown for a serial this CA never issued, unauthorized for another issuer', async () => {
    const unknown = await opensslOcsp('-issuer', path.join(dir, 'ca.pem'), '-serial', '0x1234567890abcdef', '-url', ocspUrl);
    expect(unknown).toContain('Response verify OK');
    expect(unknown).toMatch(/0x1234567890ABCDEF: unknown/i);

    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-subj', '/CN=Other CA', '-days', '2'], { cwd: dir });
    const other = await opensslOcsp('-issuer', path.join(dir, 'other.pem'), '-serial', '0x01', '-url', ocspUrl).catch((e: { stdout: string; stderr: string }) => `${e.stdout}\n${e.stderr}`);
    expect(other).toMatch(/Responder Error: unauthorized \(6\)/);
  });

  it('answers the GET form (RFC 6960 A.1) with HTTP caching headers, the same bytes while nothing changed', async () => {
    await enrolled('leaf4');
    await run('openssl', ['ocsp', '-issuer', 'ca.pem', '-cert', 'leaf4.pem', '-no_nonce', '-reqout', 'req.der'], { cwd: dir });
    const req = await readFile(path.join(dir, 'req.der'));
    const url = `${ocspUrl}/${encodeURIComponent(req.toString('base64'))}`;
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/ocsp-response');
    const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThan(3500);
    expect(maxAge).toBeLessThanOrEqual(3600);
    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^".+"$/);
    const body = new Uint8Array(await res.arrayBuffer());
    await writeFile(path.join(dir, 'resp.der'), body);
    const out = await opensslOcsp('-respin', path.join(dir, 'resp.der'), '-issuer', path.join(dir, 'ca.pem'), '-cert', path.join(dir, 'leaf4.pem'));
    expect(out).toContain('Response verify OK');
    expect(out).toMatch(/leaf4\.pem: good/);

    const again = await fetch(url);
    expect(Buffer.from(await again.arrayBuffer()).equals(Buffer.from(body))).toBe(true);
    // As a revalidating HTTP cache asks (fetch itself would add "Cache-Control: no-cache", which forbids a 304).
    const conditional = await fetch(url, { headers: { 'if-none-match': etag!, 'cache-control': 'max-age=0' } });
    expect(conditional.status).toBe(304);
  });
});
