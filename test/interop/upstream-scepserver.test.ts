import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstreamCaId } from '../../src/ca/upstream/upstream-certificate.js';
import { freePort, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { genrsa, makeDir, mintChallengeFor, requireBinary, runGroup, x509, type ProcResult } from '../helpers/interop.js';
import { tempDir } from '../helpers/openssl.js';
import { androidTrust, appleRoots, deliveriesOf, payloadProbe, windowsCaThumbprint, windowsRoots, type PayloadProbe } from '../helpers/payload-probe.js';
import type { ReadyDelivery } from '../../src/core/adapter.js';
import { readCertsOnly } from '../../src/scep/codec/index.js';
import { toPem } from '../../src/pem.js';

// Upstream-CA mode against a real upstream: Debian's micromdm `scepserver`
// (package `scep`) is the CA that issues, the gateway keeps the front. A real
// `scepclient` enrolls at OUR gateway with OUR challenge; the gateway's CRP
// checks it, forwards the device's CSR to scepserver in a PKCSReq signed by
// the gateway's RA certificate, and hands back what scepserver issued,
// recorded here first. scepserver runs without -challenge: the forwarded CSR
// is the device's own (its challengePassword is ours), so an upstream static
// challenge cannot be carried (docs/upstream-ca.md). Sequential on purpose:
// scepserver loses enrollments under concurrency (stack facts).
// The second part (issue 12): scepserver's CA certificate is fetched by the
// gateway and is what the Apple, Windows and Android payloads of profiles
// naming it trust; a wrong pin registers nothing and holds those deliveries;
// a cached chain carries the root across a restart with scepserver down.

const SCEPSERVER = '/usr/bin/scepserver';
const SCEPCLIENT = '/usr/bin/scepclient';

let work: string;
let depot: string;
let upstreamPort: number;
let scepserver: ChildProcess | null = null;
let t: TestGateway;
let profile: { id: string };
let upstreamCaPem: string;
let upstreamCaDer: Uint8Array;
let upstreamFingerprint: string;
let upstreamConfig: string;
let probe: PayloadProbe;

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

async function device(name: string, platform = 'windows'): Promise<{ id: string; name: string }> {
  const d = await t.api.ok('POST', '/devices', { name, platform });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: d.id });
  return d;
}

async function scepclient(dir: string, cn: string, challenge: string, extra: string[] = []) {
  const key = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  await genrsa(key, 2048);
  const r = await runGroup(SCEPCLIENT, ['-server-url', t.scepUrl, '-private-key', key, '-certificate', certFile, '-cn', cn, '-challenge', challenge, '-debug', ...extra], { cwd: dir, timeoutMs: 30_000 });
  return { ...r, certFile, transactionId: /transaction_id="([^"]+)"/.exec(r.stderr + r.stdout)?.[1] ?? null };
}

async function upstreamCasFile(name: string, caFingerprint: string): Promise<string> {
  const file = path.join(work, name);
  await writeFile(file, JSON.stringify([{ name: 'corp-ca', kind: 'scep', url: `http://127.0.0.1:${upstreamPort}/scep`, caFingerprint, timeoutSeconds: 10 }]));
  return file;
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** The ready delivery of `profileId` for the device, or the test fails with what it was instead. */
async function readyDelivery(gw: TestGateway, p: PayloadProbe, deviceId: string, profileId: string): Promise<ReadyDelivery> {
  const d = (await deliveriesOf(gw, p, deviceId)).find((x) => x.profile.id === profileId);
  if (!d) throw new Error(`no delivery of profile ${profileId}`);
  if (!d.ok) throw new Error(`delivery not ready: ${d.error.code}: ${d.error.message}`);
  return d;
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
  const upstreamCa = new X509Certificate(await readFile(upstreamCaPem));
  upstreamCaDer = new Uint8Array(upstreamCa.raw);
  upstreamFingerprint = upstreamCa.fingerprint256;
  upstreamConfig = await upstreamCasFile('upstream-cas.json', upstreamFingerprint);
  probe = payloadProbe();
  t = await startTestGateway({ env: { MDMGW_UPSTREAM_CAS: upstreamConfig }, adapters: [probe.adapter] });
  await t.gw.upstreamChains.started;
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

describe("upstream CA: scepserver's root on devices (issue 12)", () => {
  it("the Apple and Windows payloads of a profile naming the upstream carry scepserver's CA as trusted root, and enroll at its SCEP URL", async () => {
    const iphone = await device('upstream-root-ios', 'ios');
    const laptop = await device('upstream-root-win', 'windows');
    const apple = await readyDelivery(t, probe, iphone.id, profile.id);
    expect(apple.caName).toBe('corp-ca');
    expect(apple.scepUrl).toBe(`${t.url}/scep/ca/corp-ca`);
    const appleTrusted = await appleRoots(t, iphone.id, apple);
    expect(appleTrusted).toHaveLength(1);
    expect(same(appleTrusted[0]!, upstreamCaDer)).toBe(true);
    // Not our own CA: before issue 12's fix the gateway's root went out here.
    expect(appleTrusted.some((r) => same(r, t.gw.root.certificate))).toBe(false);
    const win = await readyDelivery(t, probe, laptop.id, profile.id);
    const winTrusted = await windowsRoots(t, laptop.id, win);
    expect(winTrusted).toHaveLength(1);
    expect(same(winTrusted[0]!, upstreamCaDer)).toBe(true);
    expect(await windowsCaThumbprint(t, laptop.id, win)).toBe(new X509Certificate(upstreamCaDer).fingerprint.replace(/:/g, ''));
    const phone = await device('upstream-root-android', 'android');
    const android = androidTrust(await readyDelivery(t, probe, phone.id, profile.id));
    expect(android.roots).toHaveLength(1);
    expect(same(android.roots[0]!, upstreamCaDer)).toBe(true);
    expect(android.caFingerprint).toBe(upstreamFingerprint.replace(/:/g, '').toLowerCase());
  });

  it('GetCACert with message=<upstream> (and at /scep/ca/<upstream>) answers our RA then the upstream CA; GetCACaps is ours', async () => {
    const certsOf = async (url: string) => {
      const res = await fetch(url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('content-type')).toContain('application/x-x509-ca-ra-cert');
      return readCertsOnly(new Uint8Array(await res.arrayBuffer()));
    };
    const byMessage = await certsOf(`${t.scepUrl}?operation=GetCACert&message=corp-ca`);
    expect(byMessage).toHaveLength(2);
    expect(same(byMessage[0]!, t.gw.ra.certificate)).toBe(true);
    expect(same(byMessage[1]!, upstreamCaDer)).toBe(true);
    const byPath = await certsOf(`${t.url}/scep/ca/corp-ca?operation=GetCACert`);
    expect(byPath.map((c) => Buffer.from(c).toString('hex'))).toEqual(byMessage.map((c) => Buffer.from(c).toString('hex')));
    // Certmonger's "-i 0" still means the default CA: one local CA, upstreams do not count.
    const zero = await certsOf(`${t.scepUrl}?operation=GetCACert&message=0`);
    expect(same(zero[1]!, t.gw.root.certificate)).toBe(true);
    const caps = await (await fetch(`${t.url}/scep/ca/corp-ca?operation=GetCACaps`)).text();
    expect(caps).toBe(await (await fetch(`${t.scepUrl}?operation=GetCACaps`)).text());
  });

  it('scepclient asking GetCACert for the upstream (-cacert-message) gets a certificate that openssl verifies against the root taken from the payload', async () => {
    const d = await device('upstream-root-enroll', 'ios');
    const delivery = await readyDelivery(t, probe, d.id, profile.id);
    const [root] = await appleRoots(t, d.id, delivery);
    const dir = await makeDir(work, 'root-enroll');
    const rootFile = path.join(dir, 'root-from-payload.pem');
    await writeFile(rootFile, toPem(root!));
    const r = await scepclient(dir, d.name, delivery.challenge, ['-cacert-message', 'corp-ca']);
    expect(r.code, show(r)).toBe(0);
    const verified = await runGroup('openssl', ['verify', '-CAfile', rootFile, r.certFile], { timeoutMs: 10_000 });
    expect(verified.stdout.trim(), show(verified)).toBe(`${r.certFile}: OK`);
  });

  it("health shows the upstream's chain: known, the CA's subject, SHA-256 and notAfter, no fetch error", async () => {
    const c = (await t.api.ok('GET', '/health')).components.find((x: { component: string }) => x.component === 'upstream:corp-ca');
    const ca = new X509Certificate(upstreamCaDer);
    expect(c.status).toBe('ok');
    expect(c.details.chain).toMatchObject({
      known: true,
      source: 'upstream',
      certificates: 1,
      ca: { subject: expect.stringContaining('Upstream Corp'), sha256: ca.fingerprint256.replace(/:/g, '').toLowerCase(), notAfter: new Date(ca.validTo).toISOString() },
      root: { sha256: ca.fingerprint256.replace(/:/g, '').toLowerCase(), selfSigned: true },
      lastFetchError: null,
    });
  });

  it('a wrong caFingerprint: health shows the mismatch, nothing is registered, deliveries are held, GetCACert for the name is 503 with the reason', async () => {
    const wrong = await upstreamCasFile('upstream-wrong-pin.json', 'ab'.repeat(32));
    const p = payloadProbe();
    const logs: string[] = [];
    const logTo = new (await import('node:stream')).Writable({ write: (chunk, _e, cb) => (logs.push(String(chunk)), cb()) });
    const g = await startTestGateway({ env: { MDMGW_UPSTREAM_CAS: wrong }, adapters: [p.adapter], logTo });
    try {
      await g.gw.upstreamChains.started;
      expect(g.gw.registry.has('corp-ca')).toBe(false);
      const c = (await g.api.call('GET', '/health')).body.components.find((x: { component: string }) => x.component === 'upstream:corp-ca');
      expect(c.status).toBe('error');
      expect(c.message).toContain('caFingerprint mismatch');
      expect(c.message).toContain('ab'.repeat(32));
      expect(c.details.chain).toMatchObject({ known: false, lastFetchError: { message: expect.stringContaining('caFingerprint mismatch') } });
      expect(logs.some((l) => l.includes('upstream CA chain could not be fetched') && l.includes('caFingerprint mismatch'))).toBe(true);
      const prof = await g.api.ok('POST', '/profiles', { name: 'Pinned wrong', scope: 'device', subjectName: 'CN={{DeviceName}}', issuer: 'corp-ca' });
      const d = await g.api.ok('POST', '/devices', { name: 'wrong-pin-1', platform: 'ios' });
      await g.api.ok('POST', '/assignments', { profileId: prof.id, deviceId: d.id });
      const [held] = await deliveriesOf(g, p, d.id);
      expect(held).toMatchObject({ ok: false, error: { code: 'ISSUER_CHAIN_UNKNOWN', message: expect.stringContaining('caFingerprint mismatch') } });
      const getCaCert = await fetch(`${g.scepUrl}?operation=GetCACert&message=corp-ca`);
      expect(getCaCert.status).toBe(503);
      expect(getCaCert.headers.get('retry-after')).toBe('60');
      expect(await getCaCert.text()).toMatch(/^the chain of upstream CA "corp-ca" is not known: caFingerprint mismatch/);
      // The admin's own root still goes out: trustedRootCertificate overrides.
      await g.api.ok('PUT', `/profiles/${prof.id}`, { name: 'Pinned wrong', scope: 'device', subjectName: 'CN={{DeviceName}}', issuer: 'corp-ca', trustedRootCertificate: toPem(upstreamCaDer) });
      const [overridden] = await deliveriesOf(g, p, d.id);
      if (!overridden!.ok) throw new Error(`expected ready: ${overridden!.error.message}`);
      expect(same((await appleRoots(g, d.id, overridden!))[0]!, upstreamCaDer)).toBe(true);
    } finally {
      await g.stop();
    }
  }, 60_000);

  it('the upstream down at start with a cached chain: payloads still carry its root; health says it came from the cache', async () => {
    const dataDir = await makeDir(work, 'cached-chain-gw');
    const p1 = payloadProbe();
    const first = await startTestGateway({ env: { MDMGW_UPSTREAM_CAS: upstreamConfig }, adapters: [p1.adapter], dataDir });
    let profileId: string;
    let deviceId: string;
    try {
      await first.gw.upstreamChains.started;
      expect(first.gw.registry.has('corp-ca')).toBe(true);
      profileId = (await first.api.ok('POST', '/profiles', { name: 'Cached', scope: 'device', subjectName: 'CN={{DeviceName}}', issuer: 'corp-ca' })).id;
      deviceId = (await first.api.ok('POST', '/devices', { name: 'cached-1', platform: 'windows' })).id;
      await first.api.ok('POST', '/assignments', { profileId, deviceId });
    } finally {
      await first.stop();
    }
    await stopScepserver();
    try {
      const p2 = payloadProbe();
      const second = await startTestGateway({ env: { MDMGW_UPSTREAM_CAS: upstreamConfig }, adapters: [p2.adapter], dataDir });
      try {
        await second.gw.upstreamChains.started;
        const d = await readyDelivery(second, p2, deviceId, profileId);
        const roots = await windowsRoots(second, deviceId, d);
        expect(roots).toHaveLength(1);
        expect(same(roots[0]!, upstreamCaDer)).toBe(true);
        const c = (await second.api.call('GET', '/health')).body.components.find((x: { component: string }) => x.component === 'upstream:corp-ca');
        expect(c.details.chain).toMatchObject({ known: true, source: 'cache', lastFetchError: { message: expect.stringContaining('unreachable') } });
        expect(c.status).toBe('error'); // the upstream itself cannot be reached: enrollments for it fail now
      } finally {
        await second.stop();
      }
    } finally {
      await startScepserver();
    }
  }, 90_000);
});
