import { X509Certificate } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCertsOnly } from '../../src/scep/codec/index.js';
import { toPem } from '../../src/pem.js';
import { prepareDeliveries } from '../../src/core/delivery.js';
import { loadOrCreateChallengeKey } from '../../src/core/challenge/signing-key.js';
import { trustForProfile } from '../../src/ca/registry.js';
import { renderWindows } from '../../src/adapters/windows/render.js';
import { enterprisePki, type EnterprisePki } from '../helpers/enterprise-pki.js';
import { freePort, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { genrsa, makeDir, mintChallengeFor, requireBinary, runGroup, x509, type ProcResult } from '../helpers/interop.js';
import { tempDir } from '../helpers/openssl.js';

// Issue 12 part 1, as an admin does it: `mdmgw ca init --subordinate`, the
// enterprise CA (plain `openssl ca`, root + intermediate) signs ca.csr,
// `mdmgw ca import` checks and installs it, the gateway starts, Debian's
// micromdm scepclient enrolls, and `openssl verify` / `openssl crl` /
// `openssl ocsp` accept the results against the enterprise root only.

const ROOT = path.resolve(import.meta.dirname, '../..');
const SCEPCLIENT = '/usr/bin/scepclient';
const PASSPHRASE = 'subordinate-test-passphrase';

let work: string;
let dataDir: string;
let pki: EnterprisePki;
let t: TestGateway | undefined;

function mdmgw(args: string[], env: Record<string, string> = {}): Promise<ProcResult> {
  return runGroup(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, MDMGW_ADMIN_TOKEN: '', MDMGW_CA_PASSPHRASE: PASSPHRASE, MDMGW_LOG_LEVEL: 'warn', ...env },
    timeoutMs: 60_000,
  });
}

const show = (r: ProcResult) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

beforeAll(async () => {
  requireBinary(SCEPCLIENT, 'scep');
  work = await tempDir('mdmgw-subordinate-');
  dataDir = path.join(work, 'data');
  pki = await enterprisePki(path.join(work, 'contoso'));
}, 60_000);

afterAll(async () => {
  await t?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('subordinate CA of an enterprise root (mdmgw ca init --subordinate / ca import)', () => {
  it('ca init --subordinate writes an encrypted key and a CA request; a second init refuses to overwrite it', async () => {
    const r = await mdmgw(['ca', 'init', '--data-dir', dataDir, '--subordinate', '--subject', 'CN=Contoso MDM Issuing CA, O=Contoso']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('mdmgw ca import');
    expect((await readFile(path.join(dataDir, 'ca.key'), 'utf8')).startsWith('-----BEGIN ENCRYPTED PRIVATE KEY-----')).toBe(true);
    const csr = await runGroup('openssl', ['req', '-in', path.join(dataDir, 'ca.csr'), '-noout', '-verify', '-text'], { timeoutMs: 10_000 });
    expect(csr.stderr + csr.stdout).toContain('verify OK');
    expect(csr.stdout).toMatch(/Subject: CN = Contoso MDM Issuing CA, O = Contoso/);
    expect(csr.stdout).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
    expect(csr.stdout).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);

    const again = await mdmgw(['ca', 'init', '--data-dir', dataDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/ca\.key exists: this CA is set up already; refusing to overwrite/);
  }, 120_000);

  it('serve refuses to start until the certificate is imported, says what to do, and creates nothing', async () => {
    const before = (await readdir(dataDir)).sort();
    const r = await mdmgw(['serve', '--data-dir', dataDir, '--port', String(await freePort())]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/subordinate CA waiting for its certificate: have .*ca\.csr signed by the enterprise CA, then run 'mdmgw ca import/);
    expect((await readdir(dataDir)).sort()).toEqual(before);
  }, 120_000);

  it('ca import refuses a certificate that does not chain or is not a CA, with the reason, and changes nothing', async () => {
    const issued = await pki.sign(path.join(dataDir, 'ca.csr'));
    const before = (await readdir(dataDir)).sort();
    const noIntermediate = await mdmgw(['ca', 'import', '--data-dir', dataDir, '--cert', issued, '--chain', pki.rootFile]);
    expect(noIntermediate.code).toBe(1);
    expect(noIntermediate.stderr).toMatch(/does not reach a self-signed root: no certificate in the chain file signed "CN=Contoso MDM Issuing CA, O=Contoso"/);
    const notCa = await pki.sign(path.join(dataDir, 'ca.csr'), { extensions: 'v3_sub_not_ca' });
    const refused = await mdmgw(['ca', 'import', '--data-dir', dataDir, '--cert', notCa, '--chain', pki.chainFile]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/is not a CA certificate/);
    const wrongKey = await mdmgw(['ca', 'import', '--data-dir', dataDir, '--cert', pki.intermediateFile, '--chain', pki.chainFile]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/does not match the CA key/);
    expect((await readdir(dataDir)).sort()).toEqual(before);
  }, 180_000);

  it('ca import installs a good certificate; GetCACert returns RA, CA, intermediate and root; payloads trust the enterprise root', async () => {
    const issued = await pki.sign(path.join(dataDir, 'ca.csr'), { out: path.join(work, 'issued.pem') });
    const r = await mdmgw(['ca', 'import', '--data-dir', dataDir, '--cert', issued, '--chain', pki.chainFile]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/1 intermediate\(s\)/);

    t = await startTestGateway({ dataDir, env: { MDMGW_CA_PASSPHRASE: PASSPHRASE } });
    const res = await fetch(`${t.scepUrl}?operation=GetCACert`);
    const certs = readCertsOnly(new Uint8Array(await res.arrayBuffer())).map((der) => new X509Certificate(der));
    expect(certs.map((c) => c.subject.replace(/\n/g, ', '))).toEqual([
      'CN=mdm-gateway SCEP RA, O=mdm-gateway',
      'CN=Contoso MDM Issuing CA, O=Contoso',
      'CN=Contoso Issuing CA 1, O=Contoso',
      'CN=Contoso Root CA, O=Contoso',
    ]);
    const rootPem = await readFile(pki.rootFile, 'utf8');
    const root = new X509Certificate(rootPem);
    expect(certs[3]!.fingerprint256).toBe(root.fingerprint256);
    // Every payload's trusted root is the enterprise root, not our CA.
    expect(new X509Certificate(t.gw.rootsPem).fingerprint256).toBe(root.fingerprint256);
    expect(t.gw.rootsPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    // One CA only: any identifier a client sends (certmonger's, iOS's payload Name) means it, chain and all.
    const other = readCertsOnly(new Uint8Array(await (await fetch(`${t.scepUrl}?operation=GetCACert&message=0`)).arrayBuffer()));
    expect(other.map((c) => new X509Certificate(c).fingerprint256)).toEqual(certs.map((c) => c.fingerprint256));
  }, 180_000);

  it('scepclient enrolls and the certificate verifies against the enterprise root; CRL and OCSP verify too, signed by the subordinate', async () => {
    const gw = t!;
    const profile = await gw.api.ok('POST', '/profiles', { name: 'Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}},OU=MDM,O=scep-client,C=US', keySize: 2048, validityDays: 30 });
    const device = await gw.api.ok('POST', '/devices', { name: 'router-1', platform: 'windows' });
    await gw.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const dir = await makeDir(work, 'enroll');
    await genrsa(path.join(dir, 'key.pem'));
    const certFile = path.join(dir, 'cert.pem');
    const r = await runGroup(SCEPCLIENT, ['-server-url', gw.scepUrl, '-private-key', path.join(dir, 'key.pem'), '-certificate', certFile, '-cn', 'router-1', '-challenge', await mintChallengeFor(gw, profile.id, device.id)], { cwd: dir, timeoutMs: 30_000 });
    expect(r.code, show(r)).toBe(0);
    expect(await x509(certFile, '-issuer')).toBe('issuer=CN = Contoso MDM Issuing CA, O = Contoso');

    // The device's payload: the enterprise root as its root, our CA and the enterprise intermediate as intermediates.
    const dev = (await gw.gw.storage.getDevice(device.id))!;
    const [delivery] = await prepareDeliveries(
      { storage: gw.gw.storage, challengeKey: (await loadOrCreateChallengeKey(dataDir)).privateKey, ttlSeconds: 60, gatewayScepUrl: gw.scepUrl, caCertificatePem: gw.gw.rootsPem, trustFor: trustForProfile(gw.gw.registry, gw.gw.rootsPem) },
      dev,
    );
    if (!delivery?.ok) throw new Error('expected a ready delivery');
    expect(new X509Certificate(delivery.trustedRootPem).subject).toBe('CN=Contoso Root CA\nO=Contoso');
    const targets = renderWindows(dev, delivery, { form: 'modern', mode: 'add' }).commands.map((c) => ('target' in c ? c.target : c.cmd));
    const thumb = (pem: string) => new X509Certificate(pem).fingerprint.replace(/:/g, '');
    expect(targets.slice(0, 3)).toEqual([
      `./Device/Vendor/MSFT/RootCATrustedCertificates/Root/${thumb(await readFile(pki.rootFile, 'utf8'))}/EncodedCertificate`,
      `./Device/Vendor/MSFT/RootCATrustedCertificates/CA/${thumb(await readFile(path.join(dataDir, 'ca.pem'), 'utf8'))}/EncodedCertificate`,
      `./Device/Vendor/MSFT/RootCATrustedCertificates/CA/${thumb(await readFile(pki.intermediateFile, 'utf8'))}/EncodedCertificate`,
    ]);

    const untrusted = path.join(work, 'untrusted.pem');
    await writeFile(untrusted, (await readFile(path.join(dataDir, 'ca.pem'), 'utf8')) + (await readFile(pki.intermediateFile, 'utf8')));
    const verify = await runGroup('openssl', ['verify', '-CAfile', pki.rootFile, '-untrusted', untrusted, certFile], { timeoutMs: 10_000 });
    expect(verify.stdout.trim(), show(verify)).toBe(`${certFile}: OK`);
    // Our CA alone is not a trust anchor: without the enterprise root nothing verifies.
    const alone = await runGroup('openssl', ['verify', '-CAfile', path.join(dataDir, 'ca.pem'), certFile], { timeoutMs: 10_000 });
    expect(alone.code).not.toBe(0);

    // Revoke; the CRL (signed by the subordinate) lists it and verifies up to the root.
    const serial = (await x509(certFile, '-serial')).replace('serial=', '').toLowerCase();
    await gw.api.ok('POST', `/certificates/${serial}/revoke`, { reason: 'keyCompromise' }, 200);
    const caId = gw.gw.authorities.current.id;
    const crl = new Uint8Array(await (await fetch(`${gw.url}/pki/crl/${caId}.crl`)).arrayBuffer());
    const crlFile = path.join(work, 'ca.crl');
    await writeFile(crlFile, toPem(crl, 'X509 CRL'));
    const all = path.join(work, 'all.pem');
    await writeFile(all, (await readFile(untrusted, 'utf8')) + (await readFile(pki.rootFile, 'utf8')));
    const crlCheck = await runGroup('openssl', ['verify', '-crl_check', '-CAfile', pki.rootFile, '-untrusted', untrusted, '-CRLfile', crlFile, certFile], { timeoutMs: 10_000 });
    expect(crlCheck.stdout + crlCheck.stderr).toMatch(/certificate revoked/);
    const ocsp = await runGroup('openssl', ['ocsp', '-issuer', path.join(dataDir, 'ca.pem'), '-cert', certFile, '-url', `${gw.url}/ocsp`, '-CAfile', all], { timeoutMs: 10_000 });
    expect(ocsp.stdout + ocsp.stderr, show(ocsp)).toMatch(/Response verify OK/);
    expect(ocsp.stdout).toMatch(new RegExp(`${certFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: revoked`));
  }, 120_000);

  it('ca rollover refuses a subordinate CA (the enterprise CA renews it)', async () => {
    const r = await mdmgw(['ca', 'rollover', '--data-dir', dataDir]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/subordinate of an enterprise root/);
  }, 60_000);
});
