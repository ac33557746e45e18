import { createPublicKey } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { loadOrCreateCaMaterial } from '../../src/ca/key-files.js';
import { upstreamCaId } from '../../src/ca/upstream/upstream-certificate.js';
import type { CsrInfo } from '../../src/core/csr-info.js';
import type { EnrollmentOutcome } from '../../src/core/enrollment.js';
import { UpstreamPoller } from '../../src/core/upstream-poller.js';
import { createLogger } from '../../src/log.js';
import { fixedRa, ScepService, type ScepBackend } from '../../src/scep/service.js';
import { generateDeviceKey, scepEnroll, scepPoll, type EnrollResult } from '../../src/sim/scep-client.js';
import { verifyIssuedBy } from '../../src/x509/certificate-info.js';
import { freePort, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { mintChallengeFor } from '../helpers/interop.js';

// PENDING and FAILURE from an upstream SCEP CA, against a wire-level fake:
// a real SCEP server (our own codec and ScepService, a CA made here) on a
// real HTTP port, whose answers the test decides. micromdm scepserver cannot
// be made to answer PENDING; test/interop/upstream-scepserver.test.ts covers
// the issuing path against it.

type Answer = 'pending' | 'issue' | 'refuse' | 'wrong-key';

let answer: Answer;
const seen: Array<{ messageType: string; transactionId: string; csr?: CsrInfo; signer: Uint8Array }> = [];
let upstreamServer: Server;
let upstreamRoot: Uint8Array;
let work: string;
let t: TestGateway;
let profile: { id: string };

async function startFakeUpstream(): Promise<string> {
  const material = await loadOrCreateCaMaterial(path.join(work, 'fake-upstream'), { organization: 'Fake Upstream' });
  upstreamRoot = material.root.certificate;
  const authority = new CertificateAuthority(material.root);
  const csrs = new Map<string, CsrInfo>();
  const issue = async (csr: CsrInfo, spki = csr.publicKey.spki) =>
    (await authority.issue({ subject: csr.subject, subjectAlternativeNames: [], extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'], keyUsage: ['digitalSignature'], validityDays: 30, hashAlgorithm: 'SHA-256', spki })).der;
  const decide = async (transactionId: string): Promise<EnrollmentOutcome> => {
    if (answer === 'refuse') return { status: 'rejected', refusal: { code: 'POLICY_DENIED', detail: 'not today' } };
    if (answer === 'pending') return { status: 'pending' };
    const csr = csrs.get(transactionId)!;
    if (answer === 'wrong-key') return { status: 'issued', certificate: await issue(csr, new Uint8Array(createPublicKey((await generateDeviceKey()).keyObject).export({ type: 'spki', format: 'der' }))) };
    return { status: 'issued', certificate: await issue(csr) };
  };
  const backend: ScepBackend = {
    enroll: async (req) => {
      seen.push({ messageType: req.messageType, transactionId: req.transactionId, csr: req.csr, signer: req.signerCertificate });
      csrs.set(req.transactionId, req.csr);
      return decide(req.transactionId);
    },
    poll: async (transactionId, signer) => {
      seen.push({ messageType: 'CertPoll', transactionId, signer });
      return decide(transactionId);
    },
    certificate: async () => null,
  };
  const scep = new ScepService(fixedRa(material.ra), material.root, backend, { step: () => {} });
  upstreamServer = createServer((req, res) => {
    const op = new URL(req.url ?? '/', 'http://x').searchParams.get('operation');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void answerWith(op).catch((e: unknown) => res.writeHead(500).end(String(e))));
    const answerWith = async (op: string | null) => {
      if (op === 'GetCACaps') return void res.end(await scep.caCaps());
      if (op === 'GetCACert') return void res.writeHead(200, { 'content-type': 'application/x-x509-ca-ra-cert' }).end(await scep.caCert());
      if (op === 'PKIOperation' && req.method === 'POST') {
        const r = await scep.pkiOperation(new Uint8Array(Buffer.concat(chunks)));
        return void res.writeHead(200, { 'content-type': 'application/x-pki-message' }).end(r.body);
      }
      res.writeHead(404).end();
    };
  });
  const port = await freePort();
  await new Promise<void>((r) => upstreamServer.listen(port, '127.0.0.1', r));
  return `http://127.0.0.1:${port}/scep`;
}

async function enroll(name: string): Promise<EnrollResult & { deviceId: string }> {
  const d = await t.api.ok('POST', '/devices', { name, platform: 'windows' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: d.id });
  return { ...(await scepEnroll({ scepUrl: t.scepUrl, subject: `CN=${name}, O=Upstream`, challenge: await mintChallengeFor(t, profile.id, d.id) })), deviceId: d.id };
}

const timeline = async (tid: string) => (await t.api.ok('GET', `/enrollments/${encodeURIComponent(tid)}`)) as { status: string; timeline: Array<{ type: string; reasonCode: string | null; details: Record<string, unknown> }> };

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'upstream-pending-'));
  const url = await startFakeUpstream();
  const config = path.join(work, 'upstream.json');
  await writeFile(config, JSON.stringify([{ name: 'slow-ca', kind: 'scep', url, pollSeconds: 3600 }]));
  t = await startTestGateway({ env: { MDMGW_UPSTREAM_CAS: config } });
  profile = await t.api.ok('POST', '/profiles', { name: 'Upstream VPN', scope: 'device', subjectName: 'CN={{DeviceName}},O=Upstream', issuer: 'slow-ca' });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await new Promise((r) => upstreamServer?.close(r));
  if (work) await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  seen.length = 0;
});

describe('upstream SCEP CA answering PENDING and FAILURE (wire-level fake)', () => {
  it('PENDING upstream is PENDING here; the poller asks with CertPoll until it issues; the device then gets the upstream certificate, recorded first', async () => {
    answer = 'pending';
    const first = await enroll('pending-1');
    expect(first.status).toBe('PENDING');
    // The upstream got the device's CSR unchanged, in a PKCSReq signed by the gateway's RA certificate.
    expect(seen).toHaveLength(1);
    expect(seen[0]!.messageType).toBe('PKCSReq');
    expect(Buffer.from(seen[0]!.csr!.der).equals(Buffer.from(first.csr))).toBe(true);
    expect(Buffer.from(seen[0]!.signer).equals(Buffer.from(t.gw.ra.certificate))).toBe(true);

    expect((await scepPoll(t.scepUrl, first)).status).toBe('PENDING');
    expect(await t.gw.upstreamPoller.runOnce()).toEqual({ issued: 0, refused: 0, pending: 1 });
    expect(seen.at(-1)).toMatchObject({ messageType: 'CertPoll', transactionId: seen[0]!.transactionId });
    // Not due again before pollSeconds have passed.
    expect(await t.gw.upstreamPoller.runOnce()).toEqual({ issued: 0, refused: 0, pending: 0 });

    answer = 'issue';
    const later = new UpstreamPoller({ storage: t.gw.storage, enrollment: t.gw.enrollment, upstreams: t.gw.upstreams, log: createLogger('silent'), maxPendingHours: 168, now: () => new Date(Date.now() + 2 * 3_600_000) });
    expect(await later.runOnce()).toEqual({ issued: 1, refused: 0, pending: 0 });

    const done = await scepPoll(t.scepUrl, first);
    expect(done.status).toBe('SUCCESS');
    expect(await verifyIssuedBy(done.certificate!, upstreamRoot)).toBe(true);
    const tl = await timeline(first.transactionId);
    expect(tl.status).toBe('issued');
    expect(tl.timeline.map((e) => e.type)).toEqual(expect.arrayContaining(['crp.passed', 'upstream.pending', 'ca.issued']));
    const [cert] = await t.api.ok('GET', `/certificates?deviceId=${first.deviceId}`);
    expect(cert).toMatchObject({ issuerId: upstreamCaId(upstreamRoot), transactionId: first.transactionId });
  });

  it('FAILURE upstream is a FAILURE here (UPSTREAM_REFUSED) with the upstream failInfo in the audit log', async () => {
    answer = 'refuse';
    const r = await enroll('refused-1');
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toContain('UPSTREAM_REFUSED');
    const tl = await timeline(r.transactionId);
    const refused = tl.timeline.find((e) => e.type === 'upstream.refused')!;
    expect(refused.reasonCode).toBe('UPSTREAM_REFUSED');
    expect(String(refused.details.detail)).toContain('(badRequest)');
    expect(String(refused.details.detail)).toContain('POLICY_DENIED');
  });

  it('PENDING then refused at a poll: the enrollment is rejected and the device polling is told UPSTREAM_REFUSED', async () => {
    answer = 'pending';
    const first = await enroll('pending-2');
    expect(first.status).toBe('PENDING');
    answer = 'refuse';
    expect(await t.gw.upstreamPoller.runOnce()).toMatchObject({ refused: 1 });
    const polled = await scepPoll(t.scepUrl, first);
    expect(polled.status).toBe('FAILURE');
    expect(polled.failInfoText).toContain('UPSTREAM_REFUSED');
    expect((await timeline(first.transactionId)).status).toBe('rejected');
  });

  it('a certificate upstream for another key is never handed out: UPSTREAM_UNAVAILABLE, nothing recorded', async () => {
    answer = 'wrong-key';
    const r = await enroll('wrong-key-1');
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toContain('UPSTREAM_UNAVAILABLE');
    expect(await t.api.ok('GET', `/certificates?deviceId=${r.deviceId}`)).toEqual([]);
  });

  it('approving an enrollment that waits for an administrator forwards it then: 502 when the upstream refuses (still pending), 202 when it answers PENDING', async () => {
    const approval = await t.api.ok('POST', '/profiles', { name: 'Upstream, approved', scope: 'device', subjectName: 'CN={{DeviceName}},O=Upstream', issuer: 'slow-ca', requireApproval: true });
    const d = await t.api.ok('POST', '/devices', { name: 'approve-1', platform: 'windows' });
    await t.api.ok('POST', '/assignments', { profileId: approval.id, deviceId: d.id });
    const r = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=approve-1, O=Upstream', challenge: await mintChallengeFor(t, approval.id, d.id) });
    expect(r.status).toBe('PENDING');
    expect(seen).toHaveLength(0); // nothing forwarded before the administrator says yes
    answer = 'refuse';
    const refused = await t.api.call('POST', `/enrollments/${encodeURIComponent(r.transactionId)}/approve`);
    expect(refused.status).toBe(502);
    expect(refused.body.error).toContain('upstream CA slow-ca did not issue');
    expect((await timeline(r.transactionId)).status).toBe('pending');
    answer = 'pending';
    const forwarded = await t.api.call('POST', `/enrollments/${encodeURIComponent(r.transactionId)}/approve`);
    expect(forwarded).toEqual({ status: 202, body: { transactionId: r.transactionId, status: 'pending' } });
    answer = 'issue';
    const later = new UpstreamPoller({ storage: t.gw.storage, enrollment: t.gw.enrollment, upstreams: t.gw.upstreams, log: createLogger('silent'), maxPendingHours: 168, now: () => new Date(Date.now() + 2 * 3_600_000) });
    expect(await later.runOnce()).toMatchObject({ issued: 1 });
    expect((await scepPoll(t.scepUrl, r)).status).toBe('SUCCESS');
  });

  it('a request still PENDING after maxPendingHours is given up (UPSTREAM_UNAVAILABLE)', async () => {
    answer = 'pending';
    const first = await enroll('pending-3');
    const muchLater = new UpstreamPoller({ storage: t.gw.storage, enrollment: t.gw.enrollment, upstreams: t.gw.upstreams, log: createLogger('silent'), maxPendingHours: 168, now: () => new Date(Date.now() + 169 * 3_600_000) });
    expect(await muchLater.runOnce()).toMatchObject({ refused: 1 });
    const polled = await scepPoll(t.scepUrl, first);
    expect(polled.failInfoText).toContain('UPSTREAM_UNAVAILABLE');
  });
});
