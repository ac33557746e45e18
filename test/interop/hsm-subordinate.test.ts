import { X509Certificate } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKeyRecord } from '../../src/ca/pkcs11/key-record.js';
import { tokenKeyInfo } from '../../src/ca/pkcs11/token-key.js';
import type { Pkcs11Token } from '../../src/ca/pkcs11/token.js';
import { readCertsOnly } from '../../src/scep/codec/index.js';
import { readCertificate } from '../../src/x509/cert-raw.js';
import { enterprisePki, type EnterprisePki } from '../helpers/enterprise-pki.js';
import { freePort, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { genrsa, makeDir, mintChallengeFor, requireBinary, runGroup, x509, type ProcResult } from '../helpers/interop.js';
import { softHsmMissing, softHsmWorkspace, type SoftHsmToken, type SoftHsmWorkspace } from '../helpers/softhsm.js';

// Issue 12: `mdmgw ca init --subordinate --pkcs11`. The CA key is generated in
// the token and signs ca.csr there; the enterprise CA (`openssl ca`, root +
// intermediate) signs it; `mdmgw ca import` installs the certificate after
// checking it against the token key; a real scepclient enrollment then gives
// a certificate that `openssl verify`s to the enterprise root.

const ROOT = path.resolve(import.meta.dirname, '../..');
const SCEPCLIENT = '/usr/bin/scepclient';
const missing = softHsmMissing();
if (missing) console.log(missing);

let ws: SoftHsmWorkspace | undefined;
let hsm: SoftHsmToken;
let token: Pkcs11Token;
let work: string;
let dataDir: string;
let pki: EnterprisePki;
let t: TestGateway | undefined;

function mdmgw(args: string[], env: Record<string, string> = {}): Promise<ProcResult> {
  return runGroup(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, MDMGW_ADMIN_TOKEN: '', MDMGW_LOG_LEVEL: 'warn', ...hsm.env, ...env },
    timeoutMs: 90_000,
  });
}
const show = (r: ProcResult) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
const keyFiles = async () => (await readdir(dataDir)).filter((f) => /^(ca|ra|ocsp)\b.*\.key$/.test(f));

describe.skipIf(missing !== null)('subordinate CA with its keys in a PKCS#11 token (SoftHSM)', () => {
  beforeAll(async () => {
    requireBinary(SCEPCLIENT, 'scep');
    ws = await softHsmWorkspace('sub', 'mdmgw-hsm-subordinate-');
    ({ hsm, token, work, dataDir } = ws);
    pki = await enterprisePki(path.join(work, 'contoso'));
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
    await ws?.close();
  });

  it('a wrong PIN: one line, exit 1, nothing written', async () => {
    const r = await mdmgw(['ca', 'init', '--subordinate', '--pkcs11', '--data-dir', dataDir], { MDMGW_PKCS11_PIN: '0000' });
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr.trim()).toMatch(/^mdmgw: the PKCS#11 token "sub" refused the PIN \(CKR_PIN_INCORRECT\)[^\n]*$/);
    await expect(readdir(dataDir)).rejects.toThrow(/ENOENT/);
  }, 120_000);

  it('generates the CA and RA keys in the token and writes ca.csr signed there; no key file, no ca.pem; serve waits for the import', async () => {
    const r = await mdmgw(['ca', 'init', '--subordinate', '--pkcs11', '--data-dir', dataDir, '--subject', 'CN=Contoso HSM Issuing CA, O=Contoso', '--ca-key-bits', '2048']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('mdmgw ca import');
    expect((await readdir(dataDir)).sort()).toEqual(['ca.csr', 'keys.json']);
    const ca = await tokenKeyInfo(token, 'mdmgw-ca');
    expect(ca).toMatchObject({ extractable: false, sensitive: true });
    expect(await tokenKeyInfo(token, 'mdmgw-ra')).toMatchObject({ extractable: false, sensitive: true });
    // The request carries the token key and its signature verifies (so the token signed it).
    const csr = await runGroup('openssl', ['req', '-in', path.join(dataDir, 'ca.csr'), '-noout', '-verify', '-text', '-pubkey'], { timeoutMs: 10_000 });
    expect(csr.stderr + csr.stdout).toContain('verify OK');
    expect(csr.stdout).toMatch(/Subject: CN = Contoso HSM Issuing CA, O = Contoso/);
    expect(csr.stdout).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
    const pubkey = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/.exec(csr.stdout)![0];
    expect(Buffer.from(pubkey.replace(/-----[^-]+-----|\s/g, ''), 'base64')).toEqual(Buffer.from(ca.spki));

    const serve = await mdmgw(['serve', '--data-dir', dataDir, '--port', String(await freePort())]);
    expect(serve.code, show(serve)).toBe(1);
    expect(serve.stderr).toMatch(/subordinate CA waiting for its certificate/);
    const again = await mdmgw(['ca', 'init', '--subordinate', '--pkcs11', '--data-dir', dataDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/ca\.csr exists: this CA is set up already/);
  }, 180_000);

  it('ca import refuses a certificate for another key, then installs the enterprise-signed one with ra.pem for the token RA key', async () => {
    const before = (await readdir(dataDir)).sort();
    const wrongKey = await mdmgw(['ca', 'import', '--data-dir', dataDir, '--cert', pki.intermediateFile, '--chain', pki.chainFile]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/does not match the CA key/);
    expect((await readdir(dataDir)).sort()).toEqual(before);

    const issued = await pki.sign(path.join(dataDir, 'ca.csr'), { out: path.join(work, 'issued.pem') });
    const r = await mdmgw(['ca', 'import', '--data-dir', dataDir, '--cert', issued, '--chain', pki.chainFile]);
    expect(r.code, show(r)).toBe(0);
    expect((await readdir(dataDir)).sort()).toEqual(['ca-chain.pem', 'ca.csr', 'ca.pem', 'keys.json', 'ra.pem']);
    const ca = new X509Certificate(await readFile(path.join(dataDir, 'ca.pem')));
    const ra = new X509Certificate(await readFile(path.join(dataDir, 'ra.pem')));
    expect(ra.verify(ca.publicKey)).toBe(true);
    expect(Buffer.from(readCertificate(new Uint8Array(ra.raw)).spki)).toEqual(Buffer.from((await tokenKeyInfo(token, 'mdmgw-ra')).spki));
    expect(await readKeyRecord(dataDir)).toMatchObject({ ca: { pkcs11: { label: 'mdmgw-ca' } }, ra: { pkcs11: { label: 'mdmgw-ra' } } });
  }, 180_000);

  it('serves from the token: GetCACert has the chain, scepclient enrolls, openssl verifies the certificate to the enterprise root', async () => {
    t = await startTestGateway({ dataDir, env: hsm.env });
    const certs = readCertsOnly(new Uint8Array(await (await fetch(`${t.scepUrl}?operation=GetCACert`)).arrayBuffer())).map((der) => new X509Certificate(der));
    expect(certs.map((c) => c.subject.replace(/\n/g, ', '))).toEqual([
      'CN=mdm-gateway SCEP RA, O=mdm-gateway',
      'CN=Contoso HSM Issuing CA, O=Contoso',
      'CN=Contoso Issuing CA 1, O=Contoso',
      'CN=Contoso Root CA, O=Contoso',
    ]);
    const profile = await t.api.ok('POST', '/profiles', { name: 'Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}},OU=MDM,O=scep-client,C=US', keySize: 2048, validityDays: 30 });
    const device = await t.api.ok('POST', '/devices', { name: 'router-hsm', platform: 'windows' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const dir = await makeDir(work, 'enroll');
    await genrsa(path.join(dir, 'key.pem'));
    const certFile = path.join(dir, 'cert.pem');
    const r = await runGroup(SCEPCLIENT, ['-server-url', t.scepUrl, '-private-key', path.join(dir, 'key.pem'), '-certificate', certFile, '-cn', 'router-hsm', '-challenge', await mintChallengeFor(t, profile.id, device.id)], { cwd: dir, timeoutMs: 30_000 });
    expect(r.code, show(r)).toBe(0);
    expect(await x509(certFile, '-issuer')).toBe('issuer=CN = Contoso HSM Issuing CA, O = Contoso');
    const untrusted = path.join(work, 'untrusted.pem');
    await writeFile(untrusted, (await readFile(path.join(dataDir, 'ca.pem'), 'utf8')) + (await readFile(pki.intermediateFile, 'utf8')));
    const verify = await runGroup('openssl', ['verify', '-CAfile', pki.rootFile, '-untrusted', untrusted, certFile], { timeoutMs: 10_000 });
    expect(verify.stdout.trim(), show(verify)).toBe(`${certFile}: OK`);
    // No CA, RA or OCSP key on disk: the responder key went into the token too.
    expect(await keyFiles()).toEqual([]);
    const ocspLabel = (await readKeyRecord(dataDir))!.ocsp![t.gw.authorities.current.id]!.pkcs11.label;
    expect((await tokenKeyInfo(token, ocspLabel)).extractable).toBe(false);
  }, 120_000);
});
