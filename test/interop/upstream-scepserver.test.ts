import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstreamCaId } from '../../src/ca/upstream/upstream-certificate.js';
import { freePort, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { genrsa, makeDir, mintChallengeFor, requireBinary, runGroup, x509, type ProcResult } from '../helpers/interop.js';
import { tempDir } from '../helpers/openssl.js';

// Upstream-CA mode against a real upstream: Debian's micromdm `scepserver`
// (package `scep`) is the CA that issues, the gateway keeps the front. A real
// `scepclient` enrolls at OUR gateway with OUR challenge; the gateway's CRP
// checks it, forwards the device's CSR to scepserver in a PKCSReq signed by
// the gateway's RA certificate, and hands back what scepserver issued,
// recorded here first. scepserver runs without -challenge: the forwarded CSR
// is the device's own (its challengePassword is ours), so an upstream static
// challenge cannot be carried (docs/upstream-ca.md). Sequential on purpose:
// scepserver loses enrollments under concurrency (stack facts).

const SCEPSERVER = '/usr/bin/scepserver';
const SCEPCLIENT = '/usr/bin/scepclient';

let work: string;
let depot: string;
let upstreamPort: number;
let scepserver: ChildProcess | null = null;
let t: TestGateway;
let profile: { id: string };
let upstreamCaPem: string;

const show = (r: ProcResult) => `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\n${r.stdout}\n${r.stderr}`;

async function startScepserver(): Promise<void> {
  scepserver = spawn(SCEPSERVER, ['-depot', depot, '-port', String(upstreamPort)], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${upstreamPort}/scep?operation=GetCACaps`)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('scepserver did not start');
}

async function stopScepserver(): Promise<void> {
  const p = scepserver;
  scepserver = null;
  if (!p || p.exitCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await gone;
}

/** Certificates scepserver has issued (it keeps each in its depot as <cn>.<serial>.pem). */
async function issuedUpstream(): Promise<string[]> {
  return (await readdir(depot)).filter((f) => f.endsWith('.pem') && f !== 'ca.pem');
}

async function device(name: string): Promise<{ id: string; name: string }> {
  const d = await t.api.ok('POST', '/devices', { name, platform: 'windows' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: d.id });
  return d;
}

async function scepclient(dir: string, cn: string, challenge: string) {
  const key = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  await genrsa(key, 2048);
  const r = await runGroup(SCEPCLIENT, ['-server-url', t.scepUrl, '-private-key', key, '-certificate', certFile, '-cn', cn, '-challenge', challenge, '-debug'], { cwd: dir, timeoutMs: 30_000 });
  return { ...r, certFile, transactionId: /transaction_id="([^"]+)"/.exec(r.stderr + r.stdout)?.[1] ?? null };
}

beforeAll(async () => {
  requireBinary(SCEPSERVER, 'scep');
  requireBinary(SCEPCLIENT, 'scep');
  work = await tempDir('upstream-scepserver-');
  depot = path.join(work, 'depot');
  const init = await runGroup(SCEPSERVER, ['ca', '-init', '-depot', depot, '-keySize', '2048', '-organization', 'Upstream Corp'], { timeoutMs: 60_000 });
  expect(init.code, show(init)).toBe(0);
  upstreamCaPem = path.join(depot, 'ca.pem');
  upstreamPort = await freePort();
  await startScepserver();
  const fingerprint = new X509Certificate(await readFile(upstreamCaPem)).fingerprint256;
  const config = path.join(work, 'upstream-cas.json');
  await writeFile(config, JSON.stringify([{ name: 'corp-ca', kind: 'scep', url: `http://127.0.0.1:${upstreamPort}/scep`, caFingerprint: fingerprint, timeoutSeconds: 10 }]));
  t = await startTestGateway({ env: { MDMGW_UPSTREAM_CAS: config } });
  profile = await t.api.ok('POST', '/profiles', { name: 'Upstream Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}},OU=MDM,O=scep-client,C=US', issuer: 'corp-ca' });
}, 120_000);

afterAll(async () => {
  await t?.stop();
  await stopScepserver();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('upstream CA: micromdm scepserver issues, the gateway keeps the front', () => {
  let serial: string;

  it('scepclient enrolls at the gateway with its challenge and receives a certificate issued by scepserver, recorded here with that issuer', async () => {
    const d = await device('upstream-1');
    const before = await issuedUpstream();
    const r = await scepclient(await makeDir(work, 'enroll'), d.name, await mintChallengeFor(t, profile.id, d.id));
    expect(r.code, show(r)).toBe(0);

    // Signed by scepserver's CA, not by ours.
    const upstreamOk = await runGroup('openssl', ['verify', '-CAfile', upstreamCaPem, r.certFile], { timeoutMs: 10_000 });
    expect(upstreamOk.stdout.trim(), show(upstreamOk)).toBe(`${r.certFile}: OK`);
    const oursOk = await runGroup('openssl', ['verify', '-CAfile', path.join(t.dataDir, 'ca.pem'), r.certFile], { timeoutMs: 10_000 });
    expect(oursOk.code).not.toBe(0);
    expect(await x509(r.certFile, '-subject')).toBe('subject=C = US, O = scep-client, OU = MDM, CN = upstream-1');
    expect((await issuedUpstream()).length).toBe(before.length + 1);

    serial = (await x509(r.certFile, '-serial')).replace('serial=', '').toLowerCase().replace(/^(00)+(?=.)/, '');
    const certs = await t.api.ok('GET', `/certificates?deviceId=${d.id}`);
    expect(certs).toHaveLength(1);
    const upstreamId = upstreamCaId(new Uint8Array(new X509Certificate(await readFile(upstreamCaPem)).raw));
    expect(upstreamId).not.toBe(t.gw.authorities.current.id);
    expect(certs[0]).toMatchObject({ serialNumber: serial, profileId: profile.id, deviceId: d.id, transactionId: r.transactionId, issuerId: upstreamId });
    const tl = await t.api.ok('GET', `/enrollments/${encodeURIComponent(r.transactionId!)}`);
    expect(tl.status).toBe('issued');
    expect(tl.timeline.map((e: { type: string }) => e.type)).toEqual(['scep.received', 'crp.passed', 'ca.issued']);
  });

  it('the front stays: a CSR the CRP refuses, or a spent challenge, never reaches the upstream', async () => {
    const d = await device('upstream-2');
    const challenge = await mintChallengeFor(t, profile.id, d.id);
    const before = await issuedUpstream();
    const wrongName = await scepclient(await makeDir(work, 'wrong-name'), 'someone-else', challenge);
    expect(wrongName.code).not.toBe(0);
    expect(wrongName.stderr + wrongName.stdout).toContain('failInfo: badRequest');
    const ok = await scepclient(await makeDir(work, 'right-name'), d.name, challenge);
    expect(ok.code, show(ok)).toBe(0);
    const reused = await scepclient(await makeDir(work, 'reused'), d.name, challenge);
    expect(reused.code).not.toBe(0);
    // Only the one request the CRP approved was forwarded.
    expect((await issuedUpstream()).length).toBe(before.length + 1);
    const refusals = (await t.api.ok('GET', '/audit?type=crp.refused')).map((e: { reasonCode: string }) => e.reasonCode);
    expect(refusals).toEqual(expect.arrayContaining(['SUBJECT_MISMATCH', 'CHALLENGE_ALREADY_USED']));
  });

  it('revoking an upstream-issued certificate records it and reports that the upstream must revoke it; our CRL does not list it', async () => {
    const r = await t.api.call('POST', `/certificates/${serial}/revoke`, { reason: 'keyCompromise' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ serialNumber: serial, revoked: [serial], upstreamRevocationRequired: [serial] });
    expect(r.body.revokedAt).toEqual(expect.any(String));
    const audit = (await t.api.ok('GET', '/audit?type=admin.certificate.revoked')).at(-1);
    expect(audit.details.upstreamRevocationRequired).toEqual([serial]);
    const crl = await fetch(`${t.url}/pki/crl/${t.gw.authorities.current.id}.crl`);
    expect(crl.status).toBe(200);
    const crlFile = path.join(work, 'ours.crl');
    await writeFile(crlFile, new Uint8Array(await crl.arrayBuffer()));
    const text = await runGroup('openssl', ['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text'], { timeoutMs: 10_000 });
    expect(text.code, show(text)).toBe(0);
    expect(text.stdout.toLowerCase()).not.toContain(`serial number: ${serial.toUpperCase()}`.toLowerCase());
  });

  it('an upstream that is down makes the enrollment a signed SCEP FAILURE (UPSTREAM_UNAVAILABLE); the challenge stays unspent', async () => {
    await stopScepserver();
    try {
      const d = await device('upstream-3');
      const challenge = await mintChallengeFor(t, profile.id, d.id);
      const r = await scepclient(await makeDir(work, 'down'), d.name, challenge);
      expect(r.code).not.toBe(0);
      expect(r.stderr + r.stdout).toContain('failInfo: badRequest');
      const tl = await t.api.ok('GET', `/enrollments/${encodeURIComponent(r.transactionId!)}`);
      expect(tl.timeline.map((e: { reasonCode: string | null }) => e.reasonCode).filter(Boolean)).toEqual(['UPSTREAM_UNAVAILABLE']);
      // The health view shows the upstream's state from that last contact.
      const down = (await t.gw.health.report()).components.find((c) => c.component === 'upstream:corp-ca')!;
      expect(down.status).toBe('error');
      expect(down.message).toContain('could not be asked');
      // Back up: the same challenge still works, as nothing was spent.
      await startScepserver();
      const again = await scepclient(await makeDir(work, 'back-up'), d.name, challenge);
      expect(again.code, show(again)).toBe(0);
      expect((await t.gw.health.report()).components.find((c) => c.component === 'upstream:corp-ca')).toMatchObject({ status: 'ok', details: { kind: 'scep', caNotAfter: expect.any(String) } });
    } finally {
      if (!scepserver) await startScepserver();
    }
  });
});
