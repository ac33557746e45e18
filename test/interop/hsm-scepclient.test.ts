import { execFile } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openToken, type Pkcs11Token } from '../../src/ca/pkcs11/token.js';
import { destroyTokenKey, tokenKeyInfo } from '../../src/ca/pkcs11/token-key.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { readCertificate } from '../../src/x509/cert-raw.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { genrsa, makeDir, mintChallengeFor, requireBinary, runGroup, x509, type ProcResult } from '../helpers/interop.js';
import { tempDir } from '../helpers/openssl.js';
import { createSoftHsmToken, softHsmMissing, SOFTHSM_MODULE, type SoftHsmToken } from '../helpers/softhsm.js';

// The CA and RA keys in a SoftHSM token, end to end as an operator runs it:
// `mdmgw ca init --pkcs11` (a real process) generates them in the token, the
// gateway serves from it, micromdm scepclient enrolls (its envelope is
// decrypted by the RA key and its certificate signed by the CA key, both
// only in the token), and OpenSSL verifies the certificate and the CRL the
// token CA signed.

const execFileP = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const SCEPCLIENT = '/usr/bin/scepclient';
const missing = softHsmMissing();
if (missing) console.log(missing);

let hsm: SoftHsmToken;
let work: string;
let dataDir: string;
let t: TestGateway;
let token: Pkcs11Token;

function mdmgw(args: string[], env: Record<string, string>): Promise<ProcResult> {
  return runGroup(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), ...args], {
    cwd: ROOT, // tsx resolves from here
    env: { ...process.env, MDMGW_LOG_LEVEL: 'error', ...env },
    timeoutMs: 90_000,
  });
}
const show = (r: ProcResult) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

describe.skipIf(missing !== null)('CA and RA keys in a PKCS#11 token (SoftHSM)', () => {
  beforeAll(async () => {
    requireBinary(SCEPCLIENT, 'scep');
    hsm = await createSoftHsmToken('mdmgw');
    work = await tempDir('mdmgw-hsm-interop-');
    dataDir = path.join(work, 'data');
  });

  afterAll(async () => {
    await t?.stop();
    token?.close();
    await hsm?.remove();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('`ca init --pkcs11` with a wrong PIN says the PIN was refused, exits 1 and writes nothing', async () => {
    const r = await mdmgw(['ca', 'init', '--pkcs11', '--data-dir', dataDir], { ...hsm.env, MDMGW_PKCS11_PIN: '9999' });
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain('refused the PIN (CKR_PIN_INCORRECT)');
    expect(r.stderr + r.stdout).not.toContain('9999');
    await expect(readdir(dataDir)).rejects.toThrow(/ENOENT/);
  }, 120_000);

  it('`ca init --pkcs11` generates the CA and RA keys in the token (PIN from a 0600 file): certificates and keys.json on disk, no key file', async () => {
    const pinFile = path.join(work, 'pin');
    await writeFile(pinFile, `${hsm.pin}\n`, { mode: 0o600 });
    const r = await mdmgw(['ca', 'init', '--pkcs11', '--data-dir', dataDir], { ...hsm.env, MDMGW_PKCS11_PIN: '', MDMGW_PKCS11_PIN_FILE: pinFile });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('generated the CA key "mdmgw-ca" and the SCEP RA key "mdmgw-ra" inside the PKCS#11 token "mdmgw"');
    expect((await readdir(dataDir)).sort()).toEqual(['ca.pem', 'keys.json', 'ra.pem']);
    // The keys are in the token, marked sensitive and not extractable, and match the certificates.
    process.env.SOFTHSM2_CONF = hsm.conf;
    token = await openToken({ module: SOFTHSM_MODULE, tokenLabel: 'mdmgw', pin: hsm.pin });
    for (const [label, file, bits] of [['mdmgw-ca', 'ca.pem', '3072'], ['mdmgw-ra', 'ra.pem', '2048']] as const) {
      const info = await tokenKeyInfo(token, label);
      expect(info).toMatchObject({ algorithm: 'RSA', extractable: false, sensitive: true });
      const pem = await readFile(path.join(dataDir, file), 'utf8');
      const der = new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64'));
      expect(Buffer.from(readCertificate(der).spki)).toEqual(Buffer.from(info.spki));
      expect(await x509(path.join(dataDir, file), '-text')).toContain(`Public-Key: (${bits} bit)`);
    }
    // pkcs11-tool (OpenSC), an independent reader, sees the private keys but cannot read them out.
    const listed = await execFileP('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', 'mdmgw', '--login', '--pin', hsm.pin, '--list-objects', '--type', 'privkey'], { env: { ...process.env, SOFTHSM2_CONF: hsm.conf } }).catch((e: { stdout: string }) => e);
    expect(listed.stdout).toMatch(/label:\s+mdmgw-ca[\s\S]*Access:\s+sensitive, always sensitive, never extractable/);
  }, 120_000);

  it('serves from the token: scepclient enrolls, OpenSSL verifies the certificate and the token-signed CRL', async () => {
    t = await startTestGateway({ dataDir, env: hsm.env });
    expect(await readFile(path.join(dataDir, 'ca.pem'), 'utf8')).toBe(t.gw.rootPem);
    const profile = await t.api.ok('POST', '/profiles', { name: 'hsm', scope: 'device', subjectName: 'CN={{DeviceName}},OU=MDM,O=scep-client,C=US', keySize: 2048, validityDays: 30 });
    const device = await t.api.ok('POST', '/devices', { name: 'hsm-router', platform: 'windows' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const dir = await makeDir(work, 'scepclient');
    await genrsa(path.join(dir, 'key.pem'));
    const cert = path.join(dir, 'cert.pem');
    const r = await runGroup(SCEPCLIENT, ['-server-url', t.scepUrl, '-private-key', path.join(dir, 'key.pem'), '-certificate', cert, '-cn', 'hsm-router', '-challenge', await mintChallengeFor(t, profile.id, device.id), '-debug'], { cwd: dir, timeoutMs: 30_000 });
    expect(r.code, show(r)).toBe(0);
    expect(await x509(cert, '-subject')).toBe('subject=CN = hsm-router, OU = MDM, O = scep-client, C = US');

    const crlFile = path.join(work, 'ca.crl');
    const crl = await fetch(`${t.url}/pki/crl/${t.gw.authorities.current.id}.crl`);
    expect(crl.status).toBe(200);
    await writeFile(crlFile, Buffer.from(await crl.arrayBuffer()));
    const verify = await runGroup('openssl', ['verify', '-crl_check', '-CRLfile', crlFile, '-CAfile', path.join(dataDir, 'ca.pem'), cert], { timeoutMs: 10_000 });
    expect(verify.stdout.trim(), show(verify)).toBe(`${cert}: OK`);
    // Still no private key on disk (the OCSP responder's key is in the token too: test/interop/hsm-ocsp.test.ts).
    const files = await readdir(dataDir);
    expect(files.filter((f) => /^(ca|ra|ocsp)\b.*\.key$/.test(f))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['ca.pem', 'ra.pem', 'keys.json']));
  }, 120_000);

  it('a token that loses the RA key under a running gateway: SCEP answers 503 with the reason, the gateway keeps serving', async () => {
    await destroyTokenKey(token, 'mdmgw-ra');
    const profile = (await t.api.ok('GET', '/profiles'))[0];
    const device = await t.api.ok('POST', '/devices', { name: 'after-loss', platform: 'windows' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const challenge = await mintChallengeFor(t, profile.id, device.id);
    await expect(scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=after-loss,OU=MDM,O=scep-client,C=US', challenge })).rejects.toThrow(/HTTP 503: the CA key store \(PKCS#11 token\) is not available/);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${t.scepUrl}?operation=GetCACaps`)).status).toBe(200);
  }, 60_000);

  it('`serve` with a wrong PIN stops with the PKCS#11 reason (exit 1), without MDMGW_PKCS11_* it says where the keys are', async () => {
    const wrong = await mdmgw(['serve', '--port', '0', '--data-dir', dataDir], { ...hsm.env, MDMGW_PKCS11_PIN: '0000' });
    expect(wrong.code, show(wrong)).toBe(1);
    expect(wrong.stderr).toContain('refused the PIN (CKR_PIN_INCORRECT)');
    const unset = await mdmgw(['serve', '--port', '0', '--data-dir', dataDir], { SOFTHSM2_CONF: hsm.conf, MDMGW_PKCS11_MODULE: '', MDMGW_PKCS11_TOKEN_LABEL: '', MDMGW_PKCS11_PIN: '' });
    expect(unset.code, show(unset)).toBe(1);
    expect(unset.stderr).toContain('are in a PKCS#11 token (keys.json): set MDMGW_PKCS11_MODULE');
    expect((await readdir(dataDir)).filter((f) => f === 'ca.key' || f === 'ra.key')).toEqual([]);
  }, 180_000);
});
