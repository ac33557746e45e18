import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { certmongerSession, genrsa, makeDir, mintChallengeFor, parseGetcertList, readText, requireBinary, runGroup, x509, type ProcResult } from '../helpers/interop.js';
import { tempDir } from '../helpers/openssl.js';

// Issue 13: real SCEP clients nobody here wrote against a gateway whose CA is
// EC P-256 (MDMGW_CA_KEY=p256). The RA they encrypt to stays RSA; the CA
// signs their certificates and the RA certificate with ecdsa-with-SHA256.
// micromdm scepclient 2.1.0 (Go crypto/x509) and certmonger 0.79 (scep-submit
// verifies the CertRep and the RA chain strictly with OpenSSL) both enroll,
// and each certificate `openssl verify`s against the P-256 root.

const SCEPCLIENT = '/usr/bin/scepclient';
const CERTMONGER = '/usr/sbin/certmonger';
const SCEP_PATH = '/certsrv/mscep/mscep.dll';

let t: TestGateway;
let work: string;
let caPem: string;
let profile: { id: string };

async function device(name: string) {
  const d = await t.api.ok('POST', '/devices', { name, platform: 'windows' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: d.id });
  return d as { id: string; name: string };
}

const show = (r: ProcResult) => `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\n${r.stdout}\n${r.stderr}`;

async function expectVerifiesAgainstP256Root(certFile: string) {
  const verify = await runGroup('openssl', ['verify', '-CAfile', caPem, certFile], { timeoutMs: 10_000 });
  expect(verify.stdout.trim(), show(verify)).toBe(`${certFile}: OK`);
  const text = await x509(certFile, '-text');
  expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
  expect(text).toContain('Public Key Algorithm: rsaEncryption'); // the device key: RSA, as the profile says
}

beforeAll(async () => {
  t = await startTestGateway({ env: { MDMGW_CA_KEY: 'p256' } });
  caPem = path.join(t.dataDir, 'ca.pem');
  expect(await x509(caPem, '-text')).toContain('ASN1 OID: prime256v1');
  work = await tempDir('interop-p256-');
  profile = await t.api.ok('POST', '/profiles', { name: 'p256 interop', scope: 'device', subjectName: 'CN={{DeviceName}},OU=MDM,O=scep-client,C=US', keySize: 2048, validityDays: 30 });
});

afterAll(async () => {
  await t?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('real SCEP clients against a P-256 CA', () => {
  it('micromdm scepclient 2.1.0 encrypts to every GetCACert certificate and panics on the EC CA; with -ca-fingerprint of the RA it enrolls and the certificate verifies against the P-256 root', async () => {
    requireBinary(SCEPCLIENT, 'scep');
    const d = await device('p256-router');
    const dir = await makeDir(work, 'scepclient');
    const key = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    await genrsa(key, 2048);
    const scepclient = (extra: string[]) =>
      runGroup(SCEPCLIENT, ['-server-url', t.url + SCEP_PATH, '-private-key', key, '-certificate', certFile, '-cn', d.name, '-challenge', challenge, ...extra], { cwd: dir, timeoutMs: 30_000 });
    const challenge = await mintChallengeFor(t, profile.id, d.id);
    // Without a selector it makes every certificate of GetCACert (RA and CA) a recipient: RSA key transport to an EC key panics (docs/ca-keys.md).
    const plain = await scepclient([]);
    expect(plain.code, show(plain)).not.toBe(0);
    expect(plain.stderr).toContain('interface {} is *ecdsa.PublicKey, not *rsa.PublicKey');
    expect(existsSync(certFile)).toBe(false);
    // -ca-fingerprint (SHA-256 of the RA certificate) makes the RA the only recipient.
    const raFingerprint = (await x509(path.join(t.dataDir, 'ra.pem'), '-fingerprint', '-sha256')).replace(/^.*=/, '').replace(/:/g, '').toLowerCase();
    const r = await scepclient(['-ca-fingerprint', raFingerprint]);
    expect(r.code, show(r)).toBe(0);
    expect(await x509(certFile, '-subject')).toBe('subject=CN = p256-router, OU = MDM, O = scep-client, C = US');
    await expectVerifiesAgainstP256Root(certFile);
  });

  it('certmonger 0.79 enrolls (scep-submit checks the ECDSA-signed RA chain with OpenSSL): MONITORING, certificate verified', async () => {
    requireBinary(CERTMONGER, 'certmonger');
    const d = await device('p256-cm');
    const home = await makeDir(work, 'certmonger');
    const keyFile = path.join(home, 'p256.key');
    const certFile = path.join(home, 'p256.crt');
    const challenge = await mintChallengeFor(t, profile.id, d.id);
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const r = await certmongerSession(
      home,
      `
getcert add-scep-ca -s -c GW -u ${q(t.url + SCEP_PATH)} || exit 98
getcert request -s -c GW -I p256 -k ${q(keyFile)} -f ${q(certFile)} -N ${q('CN=p256-cm,OU=MDM,O=scep-client,C=US')} -L ${q(challenge)} -w -v
echo "--- getcert list"
getcert list -s -i p256
`,
      60_000,
    );
    const status = parseGetcertList(r.stdout.split('--- getcert list')[1] ?? '');
    const log = existsSync(path.join(home, 'certmonger.log')) ? await readText(path.join(home, 'certmonger.log')) : '';
    const why = `${show(r)}\n${log.split('\n').filter((l) => /scep|CA_|rejected|error/i.test(l)).slice(-20).join('\n')}`;
    expect(r.timedOut, why).toBe(false);
    expect(status.status, why).toBe('MONITORING');
    expect(status['ca-error'], why).toBeUndefined();
    await expectVerifiesAgainstP256Root(certFile);
  });
});
