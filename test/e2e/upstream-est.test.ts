import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { loadOrCreateCaMaterial } from '../../src/ca/key-files.js';
import { EstUpstreamIssuer } from '../../src/ca/upstream/est-issuer.js';
import { upstreamCaId } from '../../src/ca/upstream/upstream-certificate.js';
import { IssuanceRefused } from '../../src/core/issuer.js';
import { UpstreamPoller } from '../../src/core/upstream-poller.js';
import { createLogger } from '../../src/log.js';
import { writeCertsOnly } from '../../src/scep/codec/index.js';
import { scepEnroll, scepPoll } from '../../src/sim/scep-client.js';
import { parseCsr } from '../../src/x509/csr-parser.js';
import { verifyIssuedBy } from '../../src/x509/certificate-info.js';
import { freePort, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { mintChallengeFor } from '../helpers/interop.js';
import { appleRoots, deliveriesOf, payloadProbe } from '../helpers/payload-probe.js';
import { readCertsOnly as readCerts } from '../../src/scep/codec/index.js';

// Upstream-CA mode over EST (RFC 7030) against a small EST server written
// here: node https with requestCert (only the gateway's client certificate is
// trusted), /cacerts and /simpleenroll with base64 PKCS#10 in and base64
// certs-only PKCS#7 out, signing with a CA made here. A wire-level fake of a
// third-party service that is not in Debian; the TLS, HTTP and DER are real.

const run = promisify(execFile);

type Mode = 'issue' | 'pending' | 'refuse' | 'bad-cacerts';
let mode: Mode = 'issue';
const seen: Array<{ client: string | undefined; csr: Uint8Array }> = [];
let work: string;
let est: Server;
let estUrl: string;
let estRoot: Uint8Array;
let t: TestGateway;
let profile: { id: string };
const probe = payloadProbe();

async function selfSigned(name: string, extra: string[] = []): Promise<{ cert: string; key: string }> {
  const cert = path.join(work, `${name}.pem`);
  const key = path.join(work, `${name}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, ...extra]);
  return { cert, key };
}

async function startEstServer(): Promise<void> {
  const material = await loadOrCreateCaMaterial(path.join(work, 'est-ca'), { organization: 'EST Upstream' });
  estRoot = material.root.certificate;
  const authority = new CertificateAuthority(material.root);
  const tls = await selfSigned('127.0.0.1', ['-addext', 'subjectAltName=IP:127.0.0.1']);
  const gatewayClient = await selfSigned('mdmgw-est-client');
  const b64 = (der: Uint8Array) => Buffer.from(der).toString('base64');
  est = createServer(
    { cert: await readFile(tls.cert), key: await readFile(tls.key), ca: await readFile(gatewayClient.cert), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void answer().catch((e: unknown) => res.writeHead(500).end(String(e))));
      const answer = async () => {
        const certsOnly = { 'content-type': 'application/pkcs7-mime; smime-type=certs-only', 'content-transfer-encoding': 'base64' };
        if (req.method === 'GET' && req.url === '/.well-known/est/cacerts') return void res.writeHead(200, certsOnly).end(mode === 'bad-cacerts' ? 'this is not base64!' : b64(writeCertsOnly([estRoot])));
        if (req.method !== 'POST' || req.url !== '/.well-known/est/simpleenroll') return void res.writeHead(404).end();
        const csrDer = new Uint8Array(Buffer.from(Buffer.concat(chunks).toString('latin1'), 'base64'));
        seen.push({ client: (req.socket as TLSSocket).getPeerCertificate().subject?.CN as string | undefined, csr: csrDer });
        if (mode === 'pending') return void res.writeHead(202, { 'retry-after': '5' }).end();
        if (mode === 'refuse') return void res.writeHead(400, { 'content-type': 'text/plain' }).end('subject not allowed by template');
        const csr = await parseCsr(csrDer);
        const cert = await authority.issue({ subject: csr.subject, subjectAlternativeNames: [], extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'], keyUsage: ['digitalSignature'], validityDays: 30, hashAlgorithm: 'SHA-256', spki: csr.publicKey.spki });
        res.writeHead(200, certsOnly).end(b64(writeCertsOnly([cert.der])));
      };
    },
  );
  const port = await freePort();
  await new Promise<void>((r) => est.listen(port, '127.0.0.1', r));
  estUrl = `https://127.0.0.1:${port}`;
  await writeFile(
    path.join(work, 'upstream.json'),
    JSON.stringify([{ name: 'est-ca', kind: 'est', url: estUrl, clientCert: 'mdmgw-est-client.pem', clientKey: 'mdmgw-est-client.key', tlsCa: '127.0.0.1.pem', pollSeconds: 3600 }]),
  );
}

async function enroll(name: string) {
  const d = await t.api.ok('POST', '/devices', { name, platform: 'android' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: d.id });
  return { ...(await scepEnroll({ scepUrl: t.scepUrl, subject: `CN=${name}, O=EST`, challenge: await mintChallengeFor(t, profile.id, d.id) })), deviceId: d.id as string };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'upstream-est-'));
  await startEstServer();
  t = await startTestGateway({ env: { MDMGW_UPSTREAM_CAS: path.join(work, 'upstream.json') }, adapters: [probe.adapter] });
  await t.gw.upstreamChains.started;
  profile = await t.api.ok('POST', '/profiles', { name: 'EST Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}},O=EST', issuer: 'est-ca' });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await new Promise((r) => est?.close(r));
  if (work) await rm(work, { recursive: true, force: true });
});

describe('upstream CA over EST (RFC 7030 simpleenroll, TLS client authentication)', () => {
  it('forwards the device CSR with the gateway client certificate; the device gets the EST CA certificate, recorded with its SKI', async () => {
    mode = 'issue';
    seen.length = 0;
    const r = await enroll('est-1');
    expect(r.status).toBe('SUCCESS');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.client).toBe('mdmgw-est-client');
    expect(Buffer.from(seen[0]!.csr).equals(Buffer.from(r.csr))).toBe(true);
    expect(await verifyIssuedBy(r.certificate!, estRoot)).toBe(true);
    const [cert] = await t.api.ok('GET', `/certificates?deviceId=${r.deviceId}`);
    expect(cert).toMatchObject({ issuerId: upstreamCaId(estRoot), transactionId: r.transactionId, profileId: profile.id });
  });

  it('202 (EST pending) is PENDING here; the poller resends simpleenroll until the certificate comes', async () => {
    mode = 'pending';
    const r = await enroll('est-2');
    expect(r.status).toBe('PENDING');
    mode = 'issue';
    const later = new UpstreamPoller({ storage: t.gw.storage, enrollment: t.gw.enrollment, upstreams: t.gw.upstreams, log: createLogger('silent'), maxPendingHours: 168, now: () => new Date(Date.now() + 2 * 3_600_000) });
    expect(await later.runOnce()).toEqual({ issued: 1, refused: 0, pending: 0 });
    const polled = await scepPoll(t.scepUrl, r);
    expect(polled.status).toBe('SUCCESS');
    expect(await verifyIssuedBy(polled.certificate!, estRoot)).toBe(true);
  });

  it('an EST 4xx is a FAILURE here (UPSTREAM_REFUSED) with the server text in the audit log', async () => {
    mode = 'refuse';
    const r = await enroll('est-3');
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toContain('UPSTREAM_REFUSED');
    const tl = await t.api.ok('GET', `/enrollments/${encodeURIComponent(r.transactionId)}`);
    const refused = tl.timeline.find((e: { type: string }) => e.type === 'upstream.refused');
    expect(refused.details.detail).toContain('HTTP 400: subject not allowed by template');
  });

  it('without the client certificate the EST server trusts, the TLS handshake fails: unavailable, never issued', async () => {
    mode = 'issue';
    const intruder = await selfSigned('intruder');
    const issuer = new EstUpstreamIssuer({ name: 'est-ca', url: estUrl, clientCert: await readFile(intruder.cert, 'utf8'), clientKey: await readFile(intruder.key, 'utf8'), tlsCa: await readFile(path.join(work, '127.0.0.1.pem'), 'utf8'), pollSeconds: 5, timeoutSeconds: 5 });
    const before = seen.length;
    const e = await issuer.poll({}, seen[0]!.csr).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(IssuanceRefused);
    expect((e as IssuanceRefused).kind).toBe('unavailable');
    expect(seen.length).toBe(before);
  });

  it("/cacerts (base64 certs-only PKCS#7) is the upstream's chain: registered, GetCACert for its name, the root of its profiles' payloads", async () => {
    mode = 'issue';
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
    expect(t.gw.upstreamChains.state('est-ca')).toMatchObject({ source: 'upstream', lastError: null });
    expect(same(t.gw.registry.get('est-ca')!.trustedRoot, estRoot)).toBe(true);
    const got = readCerts(new Uint8Array(await (await fetch(`${t.scepUrl}?operation=GetCACert&message=est-ca`)).arrayBuffer()));
    expect(got.map((c) => Buffer.from(c).toString('hex'))).toEqual([t.gw.ra.certificate, estRoot].map((c) => Buffer.from(c).toString('hex')));
    const d = await t.api.ok('POST', '/devices', { name: 'est-root-1', platform: 'ios' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: d.id });
    const [delivery] = await deliveriesOf(t, probe, d.id);
    if (!delivery!.ok) throw new Error(delivery!.error.message);
    const roots = await appleRoots(t, d.id, delivery!);
    expect(roots).toHaveLength(1);
    expect(same(roots[0]!, estRoot)).toBe(true);
  });

  it('a /cacerts answer that is not base64 PKCS#7 is a fetch error in health; the last good chain stays registered', async () => {
    mode = 'bad-cacerts';
    try {
      await t.gw.upstreamChains.refresh(['est-ca']);
    } finally {
      mode = 'issue';
    }
    expect(t.gw.upstreamChains.state('est-ca')!.lastError?.message).toContain('cacerts is not a base64 certs-only PKCS#7');
    expect(t.gw.registry.get('est-ca')?.trustedRoot).toBeDefined();
    const c = (await t.api.call('GET', '/health')).body.components.find((x: { component: string }) => x.component === 'upstream:est-ca');
    expect(c.details.chain).toMatchObject({ known: true, lastFetchError: { message: expect.stringContaining('cacerts is not a base64') } });
    await t.gw.upstreamChains.refresh(['est-ca']);
    expect(t.gw.upstreamChains.state('est-ca')!.lastError).toBeNull();
  });
});
