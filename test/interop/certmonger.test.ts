import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import {
  auditMark,
  auditSince,
  certmongerSession,
  makeDir,
  mintChallengeFor,
  parseGetcertList,
  readText,
  refusalsSince,
  requireBinary,
  x509,
  type ProcResult,
} from '../helpers/interop.js';
import { tempDir } from '../helpers/openssl.js';
import { startRecordingProxy, type RecordingProxy } from '../helpers/recording-proxy.js';

// certmonger 0.79 (Debian package `certmonger`) against the gateway: a private
// daemon on a private session bus per test, its state in a temp HOME, talking
// to the gateway through the recording proxy.
//
// What certmonger sends (observed): GetCACaps/GetCACert by GET, and
// PKIOperation by GET too (POSTPKIOperation is advertised); AES-256-CBC and
// SHA-256 ("Server supports AES, using AES256"); a PKCSReq signed by a
// self-signed certificate carrying the requested subject; transactionID = a
// long decimal number derived from the key (same key, same transactionID).
// Its CSR always carries friendlyName (the request nickname, BMPString),
// challengePassword, and an extensionRequest with basicConstraints CA:FALSE
// (critical) and subjectKeyIdentifier; -D/-E/-K/-U add subjectAltName and
// extendedKeyUsage. scep-submit verifies the CertRep signature and RA chain
// strictly with OpenSSL. To renew (`getcert resubmit`, `getcert rekey`) it
// sends a PKCSReq (19), NOT a RenewalReq, signed by the current certificate
// and key ("Signing using previously-issued key and cert"), with the
// challenge from the original request still in the CSR.

const CERTMONGER = '/usr/sbin/certmonger';
const GETCERT = '/usr/bin/getcert';
const SCEP_SUBMIT = '/usr/lib/certmonger/scep-submit';
const DBUS_RUN_SESSION = '/usr/bin/dbus-run-session';
const SCEP_PATH = '/certsrv/mscep/mscep.dll';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

const run = promisify(execFile);

let t: TestGateway;
let proxy: RecordingProxy;
let work: string;
let caPem: string;
let plain: { id: string };
let withSans: { id: string };

async function device(name: string, profileId: string) {
  const d = await t.api.ok('POST', '/devices', { name, platform: 'windows' });
  await t.api.ok('POST', '/assignments', { profileId, deviceId: d.id });
  return d as { id: string; name: string };
}

interface Request {
  nickname: string;
  subject: string;
  challenge: string;
  dns?: string[];
  email?: string[];
  principal?: string[];
  eku?: string[];
}

interface Outcome extends ProcResult {
  home: string;
  key: string;
  cert: string;
  status: Record<string, string>;
  log: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The files a request uses inside a HOME. */
const files = (home: string, nickname: string) => ({ key: path.join(home, `${nickname}.key`), cert: path.join(home, `${nickname}.crt`) });

/** Runs `script` (getcert commands) in a private certmonger session, then `getcert list -s -i nickname`. */
async function session(home: string, nickname: string, script: string): Promise<Outcome> {
  const r = await certmongerSession(
    home,
    `
getcert list-cas -s | grep -q "^CA 'GW':" || getcert add-scep-ca -s -c GW -u ${q(proxy.url + SCEP_PATH)} || exit 98
${script}
echo "--- getcert list"
getcert list -s -i ${q(nickname)}
`,
    40_000,
  );
  const listed = r.stdout.split('--- getcert list')[1] ?? '';
  const log = existsSync(path.join(home, 'certmonger.log')) ? await readText(path.join(home, 'certmonger.log')) : '';
  return { ...r, home, ...files(home, nickname), status: parseGetcertList(listed), log };
}

async function request(home: string, o: Request): Promise<Outcome> {
  const { key, cert } = files(home, o.nickname);
  const args = ['-s', '-c', 'GW', '-I', o.nickname, '-k', key, '-f', cert, '-N', o.subject, '-L', o.challenge];
  for (const d of o.dns ?? []) args.push('-D', d);
  for (const e of o.email ?? []) args.push('-E', e);
  for (const k of o.principal ?? []) args.push('-K', k);
  for (const u of o.eku ?? []) args.push('-U', u);
  return session(home, o.nickname, `getcert request ${args.map(q).join(' ')} -w -v\necho "request-exit=$?"`);
}

const show = (o: Outcome) => `exit ${o.code}${o.timedOut ? ' (timed out)' : ''}\n${o.stdout}\n${o.stderr}\n${o.log.split('\n').filter((l) => /scep|CA_|rejected|error/i.test(l)).slice(-30).join('\n')}`;

/** The CSRs certmonger handed its SCEP helper, in order (from the daemon's debug log). */
function csrsInLog(log: string): string[] {
  return [...new Set([...log.matchAll(/CERTMONGER_CSR" to "(-----BEGIN CERTIFICATE REQUEST-----[\s\S]*?-----END CERTIFICATE REQUEST-----)/g)].map((m) => m[1]!))];
}

async function csrText(pem: string): Promise<string> {
  const dir = await tempDir('cm-csr-');
  const f = path.join(dir, 'csr.pem');
  await import('node:fs/promises').then((fs) => fs.writeFile(f, pem));
  const out = (await run('openssl', ['req', '-in', f, '-noout', '-text'])).stdout;
  await rm(dir, { recursive: true, force: true });
  return out;
}

async function expectIssued(o: Outcome) {
  expect(o.timedOut, show(o)).toBe(false);
  expect(o.status.status, show(o)).toBe('MONITORING');
  expect(o.status['ca-error'], show(o)).toBeUndefined();
  expect(existsSync(o.cert), show(o)).toBe(true);
  const verify = await run('openssl', ['verify', '-CAfile', caPem, o.cert]);
  expect(verify.stdout.trim()).toBe(`${o.cert}: OK`);
}

async function expectRejected(o: Outcome, mark: number, code: string) {
  expect(o.timedOut, show(o)).toBe(false);
  expect(o.status.status, show(o)).toBe('CA_REJECTED');
  expect(existsSync(o.cert)).toBe(false);
  // scep-submit does not show failInfoText: it maps failInfo badRequest to a fixed sentence.
  expect(o.status['ca-error'], show(o)).toBe('Transaction either is not permitted or is not supported by server.');
  // The reason code is in the audit, and in the failInfoText of the CertRep certmonger received.
  expect((await refusalsSince(t, mark)).map((e) => e.reasonCode)).toEqual([code]);
  const last = proxy.exchanges.filter((e) => e.operation === 'PKIOperation').at(-1)!;
  expect(last.body.toString('latin1')).toContain(`${code}: `);
}

beforeAll(async () => {
  requireBinary(CERTMONGER, 'certmonger');
  requireBinary(GETCERT, 'certmonger');
  requireBinary(SCEP_SUBMIT, 'certmonger');
  requireBinary(DBUS_RUN_SESSION, 'dbus');
  t = await startTestGateway();
  proxy = await startRecordingProxy(t.url);
  caPem = path.join(t.dataDir, 'ca.pem');
  work = await tempDir('interop-certmonger-');
  plain = await t.api.ok('POST', '/profiles', { name: 'certmonger plain', scope: 'device', subjectName: 'CN={{DeviceName}},OU=MDM,O=certmonger,C=US', validityDays: 30 });
  withSans = await t.api.ok('POST', '/profiles', {
    name: 'certmonger SANs',
    scope: 'device',
    subjectName: 'CN={{DeviceName}},O=certmonger',
    subjectAlternativeNames: [
      { type: 'dns', value: '{{DeviceName}}.example.test' },
      { type: 'email', value: 'pki@example.test' },
    ],
    extendedKeyUsages: [CLIENT_AUTH],
    validityDays: 30,
  });
});

afterAll(async () => {
  await proxy?.stop();
  await t?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('certmonger 0.79 (scep-submit)', () => {
  let renewHome: string;
  let renewDevice: { id: string };
  let usedChallenge: string;

  it('enrolls with a subject: MONITORING, certificate file written and verified, PKIOperation by GET', async () => {
    const d = await device('cm-plain', plain.id);
    renewDevice = d;
    renewHome = await makeDir(work, 'plain');
    usedChallenge = await mintChallengeFor(t, plain.id, d.id);
    const before = proxy.exchanges.length;
    const o = await request(renewHome, { nickname: 'plain', subject: 'CN=cm-plain,OU=MDM,O=certmonger,C=US', challenge: usedChallenge });
    await expectIssued(o);
    expect(await x509(o.cert, '-subject')).toBe('subject=CN = cm-plain, OU = MDM, O = certmonger, C = US');
    const certs = await t.api.ok('GET', `/certificates?deviceId=${d.id}`);
    expect(certs).toHaveLength(1);
    expect(certs[0].serialNumber).toBe((await x509(o.cert, '-serial')).replace('serial=', '').toLowerCase());

    // How it spoke: PKIOperation by GET only, AES-256 and SHA-256.
    const ops = proxy.exchanges.slice(before).filter((e) => e.operation === 'PKIOperation');
    expect(ops.length).toBeGreaterThan(0);
    expect(new Set(ops.map((e) => e.method))).toEqual(new Set(['GET']));
    expect(o.log).toContain('Server supports AES, using AES256.');
    expect(o.log).toContain('Server supports SHA-256, using that.');
    // What its CSR carries by default, all accepted by the CRP.
    const csr = await csrText(csrsInLog(o.log)[0]!);
    expect(csr).toMatch(/friendlyName/);
    expect(csr).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(csr).toMatch(/X509v3 Subject Key Identifier/);
    expect(csr).toMatch(/challengePassword/);
    expect(csr).not.toMatch(/X509v3 Key Usage/);
  });

  it('renews with getcert resubmit (a PKCSReq signed by the current certificate): a new certificate', async () => {
    const first = await x509(files(renewHome, 'plain').cert, '-serial');
    const mark = await auditMark(t);
    const o = await session(renewHome, 'plain', 'getcert resubmit -s -i plain -w -v');
    await expectIssued(o);
    const second = await x509(o.cert, '-serial');
    expect(second).not.toBe(first);
    expect(await x509(o.cert, '-subject')).toBe('subject=CN = cm-plain, OU = MDM, O = certmonger, C = US');
    const received = await auditSince(t, mark, 'scep.received');
    expect(received).toHaveLength(1);
    // A PKCSReq on the wire whose (spent) challenge cannot be used: evaluated as the
    // renewal it is (signer = our certificate, same subject).
    expect(received[0]!.details).toMatchObject({ messageType: 'PKCSReq', renewalFallback: true });
    expect((await auditSince(t, mark, 'crp.renewal-fallback')).map((e) => e.details.challengeRefusal)).toEqual(['CHALLENGE_ALREADY_USED']);
    expect(received[0]!.details.scepTransactionId).toMatch(/^\d+$/);
    expect(o.log).toMatch(/Signing using previously-issued key and cert/);
    expect(await refusalsSince(t, mark)).toEqual([]);
    expect(await t.api.ok('GET', `/certificates?deviceId=${renewDevice.id}`)).toHaveLength(2);
  });

  it('rekeys with getcert rekey: a new key and a new certificate', async () => {
    const { key } = files(renewHome, 'plain');
    const oldSpki = (await run('openssl', ['pkey', '-in', key, '-pubout'])).stdout;
    const oldSerial = await x509(files(renewHome, 'plain').cert, '-serial');
    const mark = await auditMark(t);
    const o = await session(renewHome, 'plain', 'getcert rekey -s -i plain -w -v');
    await expectIssued(o);
    expect(await x509(o.cert, '-serial')).not.toBe(oldSerial);
    expect((await run('openssl', ['x509', '-in', o.cert, '-noout', '-pubkey'])).stdout).not.toBe(oldSpki);
    expect((await run('openssl', ['pkey', '-in', key, '-pubout'])).stdout).toBe((await run('openssl', ['x509', '-in', o.cert, '-noout', '-pubkey'])).stdout);
    expect((await auditSince(t, mark, 'scep.received')).map((e) => e.details.messageType)).toEqual(['PKCSReq']);
    expect((await auditSince(t, mark, 'crp.renewal-fallback')).map((e) => e.details.challengeRefusal)).toEqual(['CHALLENGE_ALREADY_USED']);
    expect(await t.api.ok('GET', `/certificates?deviceId=${renewDevice.id}`)).toHaveLength(3);
  });

  it('refuses a replayed challenge (CA_REJECTED, CHALLENGE_ALREADY_USED)', async () => {
    const mark = await auditMark(t);
    const o = await request(await makeDir(work, 'replay'), { nickname: 'replay', subject: 'CN=cm-plain,OU=MDM,O=certmonger,C=US', challenge: usedChallenge });
    await expectRejected(o, mark, 'CHALLENGE_ALREADY_USED');
  });

  it('enrolls with dns and email SANs and the clientAuth EKU the profile allows (-D -E -U)', async () => {
    const d = await device('cm-san', withSans.id);
    const home = await makeDir(work, 'san');
    const o = await request(home, {
      nickname: 'san',
      subject: 'CN=cm-san,O=certmonger',
      challenge: await mintChallengeFor(t, withSans.id, d.id),
      dns: ['cm-san.example.test'],
      email: ['pki@example.test'],
      eku: [CLIENT_AUTH],
    });
    await expectIssued(o);
    const ext = await x509(o.cert, '-ext', 'subjectAltName,extendedKeyUsage');
    expect(ext).toMatch(/DNS:cm-san\.example\.test/);
    expect(ext).toMatch(/email:pki@example\.test/);
    expect(ext).toMatch(/TLS Web Client Authentication/);
    const csr = await csrText(csrsInLog(o.log)[0]!);
    expect(csr).toMatch(/X509v3 Subject Alternative Name/);
    expect(csr).toMatch(/X509v3 Extended Key Usage/);
  });

  it('refuses a SAN beyond the profile (SAN_MISMATCH)', async () => {
    const d = await device('cm-san2', withSans.id);
    const mark = await auditMark(t);
    const o = await request(await makeDir(work, 'san2'), {
      nickname: 'san2',
      subject: 'CN=cm-san2,O=certmonger',
      challenge: await mintChallengeFor(t, withSans.id, d.id),
      dns: ['cm-san2.example.test', 'evil.example.test'],
      email: ['pki@example.test'],
    });
    await expectRejected(o, mark, 'SAN_MISMATCH');
  });

  it('refuses an EKU beyond the profile (serverAuth: EKU_EXCEEDS_PROFILE)', async () => {
    const d = await device('cm-eku', withSans.id);
    const mark = await auditMark(t);
    const o = await request(await makeDir(work, 'eku'), {
      nickname: 'eku',
      subject: 'CN=cm-eku,O=certmonger',
      challenge: await mintChallengeFor(t, withSans.id, d.id),
      dns: ['cm-eku.example.test'],
      email: ['pki@example.test'],
      eku: [CLIENT_AUTH, SERVER_AUTH],
    });
    await expectRejected(o, mark, 'EKU_EXCEEDS_PROFILE');
  });

  it('refuses a Kerberos principal SAN (-K), which no profile can express (SAN_MISMATCH)', async () => {
    const d = await device('cm-krb', withSans.id);
    const mark = await auditMark(t);
    const o = await request(await makeDir(work, 'krb'), {
      nickname: 'krb',
      subject: 'CN=cm-krb,O=certmonger',
      challenge: await mintChallengeFor(t, withSans.id, d.id),
      dns: ['cm-krb.example.test'],
      email: ['pki@example.test'],
      principal: ['host/cm-krb.example.test@EXAMPLE.TEST'],
    });
    await expectRejected(o, mark, 'SAN_MISMATCH');
    const refusal = (await refusalsSince(t, mark))[0]!;
    // krb5PrincipalName otherName (1.3.6.1.5.2.2)
    expect(JSON.stringify(refusal.details.received)).toContain('otherName:1.3.6.1.5.2.2');
  });

  it('every CertRep certmonger received verifies with plain openssl cms -verify against the CA', async () => {
    const reps = proxy.certReps();
    expect(reps.length).toBeGreaterThanOrEqual(8);
    expect(await proxy.verifyAll(caPem)).toEqual([]);
  });
});
