import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateChallengeKey } from '../../src/core/challenge/signing-key.js';
import { mintChallenge } from '../../src/core/challenge/token.js';
import { resolveRequest } from '../../src/core/profile/resolve.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { auditMark, auditSince, genrsa, makeDir, mintChallengeFor, refusalsSince, requireBinary, runGroup, tamper, x509, type ProcResult } from '../helpers/interop.js';
import { tempDir } from '../helpers/openssl.js';
import { startRecordingProxy, type RecordingProxy } from '../helpers/recording-proxy.js';

// micromdm scepclient 2.1.0 (Debian package `scep`) against the gateway,
// through a recording proxy so every CertRep it received is checked with
// plain `openssl cms -verify` at the end.
//
// What scepclient sends (observed): GetCACert and GetCACaps by GET, then
// PKIOperation by POST; DES-CBC content encryption and SHA-1 digests even
// though AES and SHA-256 are advertised; a self-signed signer "CN=SCEP SIGNER,
// O=scep-client"; a CSR with only subject (C, O, OU, CN from flags) and
// challengePassword, no extensions; transactionID = base64(SHA-1(public key)).
// Run again with the issued certificate present it sends a RenewalReq (17)
// signed by that certificate, with the SAME transactionID and the SAME
// csr.pem (challenge included) it wrote the first time.

const SCEPCLIENT = '/usr/bin/scepclient';
const SCEP_PATH = '/certsrv/mscep/mscep.dll';

let t: TestGateway;
let proxy: RecordingProxy;
let work: string;
let caPem: string;
let profile: { id: string };
const devices: Record<string, { id: string; name: string }> = {};

async function device(name: string) {
  const d = await t.api.ok('POST', '/devices', { name, platform: 'windows' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: d.id });
  devices[name] = d;
  return d as { id: string; name: string };
}

interface ScepRun extends ProcResult {
  dir: string;
  transactionId: string | null;
  certFile: string;
}

/** One scepclient run in `dir` (its cwd: it writes csr.pem/self.pem there). */
async function scepclient(dir: string, o: { cn: string; challenge?: string; keyBits?: number }): Promise<ScepRun> {
  const key = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  try {
    await readFile(key);
  } catch {
    await genrsa(key, o.keyBits ?? 2048);
  }
  const args = ['-server-url', proxy.url + SCEP_PATH, '-private-key', key, '-certificate', certFile, '-cn', o.cn, '-debug'];
  if (o.challenge !== undefined) args.push('-challenge', o.challenge);
  const r = await runGroup(SCEPCLIENT, args, { cwd: dir, timeoutMs: 20_000 });
  const tid = /transaction_id="([^"]+)"/.exec(r.stderr + r.stdout)?.[1] ?? null;
  return { ...r, dir, transactionId: tid, certFile };
}

const show = (r: ProcResult) => `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\n${r.stdout}\n${r.stderr}`;

async function timeline(tid: string) {
  return t.api.ok('GET', `/enrollments/${encodeURIComponent(tid)}`);
}

/** scepclient failed, and the gateway refused that transaction with `code` (and said so in the CertRep). */
async function expectRefused(r: ScepRun, code: string, failInfo = 'badRequest') {
  expect(r.code, show(r)).not.toBe(0);
  expect(r.timedOut).toBe(false);
  expect(r.stderr + r.stdout).toContain(`request failed, failInfo: ${failInfo}`);
  expect(r.transactionId, show(r)).not.toBeNull();
  const tl = await timeline(r.transactionId!);
  expect(tl.timeline.map((e: { reasonCode: string | null }) => e.reasonCode).filter(Boolean)).toEqual([code]);
  const last = proxy.exchanges.filter((e) => e.operation === 'PKIOperation').at(-1)!;
  expect(last.body.toString('latin1')).toContain(code); // failInfoText in the CertRep
}

beforeAll(async () => {
  requireBinary(SCEPCLIENT, 'scep');
  t = await startTestGateway();
  proxy = await startRecordingProxy(t.url);
  caPem = path.join(t.dataDir, 'ca.pem');
  work = await tempDir('interop-scepclient-');
  profile = await t.api.ok('POST', '/profiles', {
    name: 'scepclient device',
    scope: 'device',
    subjectName: 'CN={{DeviceName}},OU=MDM,O=scep-client,C=US',
    keySize: 2048,
    validityDays: 30,
  });
});

afterAll(async () => {
  await proxy?.stop();
  await t?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('micromdm scepclient 2.1.0', () => {
  it('enrolls: certificate written, verifies against the CA, right subject, recorded with a timeline', async () => {
    const d = await device('router-1');
    const dir = await makeDir(work, 'enroll');
    const r = await scepclient(dir, { cn: d.name, challenge: await mintChallengeFor(t, profile.id, d.id) });
    expect(r.code, show(r)).toBe(0);
    expect(await x509(r.certFile, '-subject')).toBe('subject=CN = router-1, OU = MDM, O = scep-client, C = US');
    const verify = await runGroup('openssl', ['verify', '-CAfile', caPem, r.certFile], { timeoutMs: 10_000 });
    expect(verify.stdout.trim()).toBe(`${r.certFile}: OK`);
    expect(await x509(r.certFile, '-ext', 'extendedKeyUsage')).toMatch(/TLS Web Client Authentication/);

    const serial = (await x509(r.certFile, '-serial')).replace('serial=', '').toLowerCase();
    const certs = await t.api.ok('GET', `/certificates?deviceId=${d.id}`);
    expect(certs).toHaveLength(1);
    expect(certs[0]).toMatchObject({ serialNumber: serial, profileId: profile.id, deviceId: d.id, transactionId: r.transactionId });
    const issued = (await t.api.ok('GET', '/audit?type=ca.issued')).find((e: { transactionId: string }) => e.transactionId === r.transactionId);
    expect(issued.details.serialNumber).toBe(serial);
    const tl = await timeline(r.transactionId!);
    expect(tl.status).toBe('issued');
    expect(tl.timeline.map((e: { type: string }) => e.type)).toEqual(['scep.received', 'crp.passed', 'ca.issued']);
    // What scepclient really sent (see the header comment).
    const received = tl.timeline[0].details;
    expect(received).toMatchObject({ messageType: 'PKCSReq', publicKey: { algorithm: 'RSA', bits: 2048 }, subjectAltNames: [] });
    const ops = proxy.exchanges.map((e) => `${e.method} ${e.operation}`);
    expect(ops).toEqual(expect.arrayContaining(['GET GetCACert', 'GET GetCACaps', 'POST PKIOperation']));
  });

  it('renews: run again with the issued certificate, it sends a RenewalReq with the same transactionID and gets a NEW certificate', async () => {
    const d = devices['router-1']!;
    const dir = path.join(work, 'enroll');
    const first = await x509(path.join(dir, 'cert.pem'), '-serial');
    const mark = await auditMark(t);
    const r = await scepclient(dir, { cn: d.name });
    expect(r.code, show(r)).toBe(0);
    const second = await x509(r.certFile, '-serial');
    expect(second).not.toBe(first);
    expect(await x509(r.certFile, '-subject')).toBe('subject=CN = router-1, OU = MDM, O = scep-client, C = US');

    const received = (await auditSince(t, mark, 'scep.received'))[0]!;
    expect(received.details.messageType).toBe('RenewalReq');
    // Same SCEP transactionID as the PKCSReq: remembered under <tid>|<signer serial>, not answered as a retry.
    expect(received.details.scepTransactionId).toBe(r.transactionId);
    expect(received.transactionId).toBe(`${r.transactionId}|${first.replace('serial=', '').toLowerCase()}`);
    const tl = await timeline(received.transactionId!);
    expect(tl.status).toBe('issued');
    expect(tl.timeline.map((e: { type: string }) => e.type)).toEqual(['scep.received', 'crp.passed', 'ca.issued']);

    // And renewing the renewed certificate works the same way.
    const r3 = await scepclient(dir, { cn: d.name });
    expect(r3.code, show(r3)).toBe(0);
    const third = await x509(r3.certFile, '-serial');
    expect(new Set([first, second, third]).size).toBe(3);
    expect(await t.api.ok('GET', `/certificates?deviceId=${d.id}`)).toHaveLength(3);
  });

  it('refuses a replayed challenge (CHALLENGE_ALREADY_USED)', async () => {
    const d = await device('replay-1');
    const ch = await mintChallengeFor(t, profile.id, d.id);
    const ok = await scepclient(await makeDir(work, 'replay-a'), { cn: d.name, challenge: ch });
    expect(ok.code, show(ok)).toBe(0);
    const r = await scepclient(await makeDir(work, 'replay-b'), { cn: d.name, challenge: ch });
    await expectRefused(r, 'CHALLENGE_ALREADY_USED');
  });

  it('refuses an expired challenge (CHALLENGE_EXPIRED, failInfo badTime)', async () => {
    const d = await device('expired-1');
    const key = await loadOrCreateChallengeKey(t.dataDir);
    const p = await t.gw.storage.getProfile(profile.id);
    const dev = await t.gw.storage.getDevice(d.id);
    const resolved = resolveRequest(p!, { kind: 'device', deviceId: d.id }, { user: null, device: dev });
    if (!resolved.ok) throw new Error('resolve failed');
    const old = mintChallenge(key.privateKey, { kind: 'profile', resolved: resolved.resolved, ttlSeconds: 60, now: new Date(Date.now() - 3600_000) });
    const r = await scepclient(await makeDir(work, 'expired'), { cn: d.name, challenge: old.token });
    await expectRefused(r, 'CHALLENGE_EXPIRED', 'badTime');
  });

  it('refuses a tampered challenge (CHALLENGE_BAD_SIGNATURE)', async () => {
    const d = await device('tampered-1');
    const r = await scepclient(await makeDir(work, 'tampered'), { cn: d.name, challenge: tamper(await mintChallengeFor(t, profile.id, d.id)) });
    // The token decodes (same length and alphabet), so it is the signature that fails.
    await expectRefused(r, 'CHALLENGE_BAD_SIGNATURE');
  });

  it('refuses a subject that differs from the profile (-cn other: SUBJECT_MISMATCH)', async () => {
    const d = await device('subject-1');
    const r = await scepclient(await makeDir(work, 'subject'), { cn: 'other', challenge: await mintChallengeFor(t, profile.id, d.id) });
    await expectRefused(r, 'SUBJECT_MISMATCH');
    const refusal = (await timeline(r.transactionId!)).timeline.find((e: { reasonCode: string }) => e.reasonCode === 'SUBJECT_MISMATCH');
    expect(refusal.details.expected).toMatch(/CN=subject-1/);
    expect(refusal.details.received).toMatch(/CN=other/);
  });

  it('refuses a 1024-bit key against keySize 2048 (KEY_TOO_SHORT)', async () => {
    const d = await device('weak-1');
    const r = await scepclient(await makeDir(work, 'weak'), { cn: d.name, challenge: await mintChallengeFor(t, profile.id, d.id), keyBits: 1024 });
    await expectRefused(r, 'KEY_TOO_SHORT');
  });

  it("refuses a challenge minted for another device: the CRP resolves the profile for the challenge's target, so the subject differs (SUBJECT_MISMATCH)", async () => {
    // The challenge binds profile + target; the device asking does not name
    // itself in any other way. Asking for its own CN with another device's
    // challenge is a subject that is not the one the challenge authorises.
    const mine = await device('mine-1');
    const other = await device('other-1');
    const r = await scepclient(await makeDir(work, 'cross'), { cn: mine.name, challenge: await mintChallengeFor(t, profile.id, other.id) });
    await expectRefused(r, 'SUBJECT_MISMATCH');
    expect(await t.api.ok('GET', `/certificates?deviceId=${mine.id}`)).toEqual([]);
    expect(await t.api.ok('GET', `/certificates?deviceId=${other.id}`)).toEqual([]);
  });

  it('enrolls 8 devices in parallel: all succeed, distinct serials, all recorded', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `par-${i}`);
    const devs = await Promise.all(names.map((n) => device(n)));
    const challenges = await Promise.all(devs.map((d) => mintChallengeFor(t, profile.id, d.id)));
    const dirs = await Promise.all(names.map((n) => makeDir(work, n)));
    await Promise.all(dirs.map((dir) => genrsa(path.join(dir, 'key.pem'))));
    const mark = await auditMark(t);
    const runs = await Promise.all(devs.map((d, i) => scepclient(dirs[i]!, { cn: d.name, challenge: challenges[i]! })));
    for (const r of runs) expect(r.code, show(r)).toBe(0);
    const serials = await Promise.all(runs.map(async (r) => (await x509(r.certFile, '-serial')).replace('serial=', '').toLowerCase()));
    expect(new Set(serials).size).toBe(8);
    const issued = await auditSince(t, mark, 'ca.issued');
    expect(issued.map((e) => e.details.serialNumber).sort()).toEqual([...serials].sort());
    for (const [i, d] of devs.entries()) {
      const certs = await t.api.ok('GET', `/certificates?deviceId=${d.id}`);
      expect(certs.map((c: { serialNumber: string }) => c.serialNumber)).toEqual([serials[i]]);
    }
    expect(await refusalsSince(t, mark)).toEqual([]);
  });

  it('every CertRep scepclient received verifies with plain openssl cms -verify against the CA', async () => {
    const reps = proxy.certReps();
    // 3 enrollments/renewals + replay pair + 5 refusals + 8 parallel
    expect(reps.length).toBeGreaterThanOrEqual(18);
    expect(await proxy.verifyAll(caPem)).toEqual([]);
  });
});
