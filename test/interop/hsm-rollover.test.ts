import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKeyRecord, type KeyRecord } from '../../src/ca/pkcs11/key-record.js';
import { initCaInToken } from '../../src/ca/pkcs11/token-ca.js';
import { destroyTokenKey, generateTokenRsaKey, tokenKeyInfo } from '../../src/ca/pkcs11/token-key.js';
import type { Pkcs11Token } from '../../src/ca/pkcs11/token.js';
import { toPem } from '../../src/pem.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { runGroup, type ProcResult } from '../helpers/interop.js';
import { softHsmMissing, softHsmWorkspace, type SoftHsmToken, type SoftHsmWorkspace } from '../helpers/softhsm.js';

// Issue 12: `mdmgw ca rollover` with the CA key in a PKCS#11 token. The new
// CA key is generated in the token; the retired CA's key stays there and keeps
// signing its CRL and its OCSP responder's certificate, so a relying party
// that trusts only the OLD root still verifies revocation of what it issued
// (as test/interop/rollover-publication.test.ts checks for key files).

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const missing = softHsmMissing();
if (missing) console.log(missing);

let ws: SoftHsmWorkspace | undefined;
let hsm: SoftHsmToken;
let token: Pkcs11Token;
let work: string;
let dataDir: string;
let t: TestGateway | null = null;
let profileId: string;
let deviceId: string;
let oldCaId: string;
let oldLeaf: Uint8Array;

function mdmgw(args: string[], env: Record<string, string>): Promise<ProcResult> {
  return runGroup(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, MDMGW_LOG_LEVEL: 'error', ...env },
    timeoutMs: 90_000,
  });
}
const show = (r: ProcResult) => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

async function enroll(): Promise<Uint8Array> {
  const { challenge } = await t!.api.ok('POST', '/challenges', { profileId, deviceId });
  const r = await scepEnroll({ scepUrl: t!.scepUrl, subject: 'CN=radius-1', challenge });
  expect(r.status).toBe('SUCCESS');
  return r.certificate!;
}

async function openssl(args: string[]): Promise<string> {
  const r = await run('openssl', args, { cwd: work }).catch((e: { stdout: string; stderr: string }) => e);
  return `${r.stdout}\n${r.stderr}`;
}

/** All files under the data directory, relative. */
async function files(): Promise<string[]> {
  return (await readdir(dataDir, { recursive: true })).map(String).sort();
}

describe.skipIf(missing !== null)('`mdmgw ca rollover` with the CA key in a PKCS#11 token (SoftHSM)', () => {
  beforeAll(async () => {
    ws = await softHsmWorkspace('roll', 'mdmgw-hsm-rollover-');
    ({ hsm, token, work, dataDir } = ws);
    await initCaInToken(dataDir, token, { organization: 'Roll', caKeyBits: 2048 });
    t = await startTestGateway({ dataDir, env: hsm.env });
    profileId = (await t.api.ok('POST', '/profiles', { name: 'wifi', scope: 'device', subjectName: 'CN={{DeviceName}}' })).id;
    deviceId = (await t.api.ok('POST', '/devices', { name: 'radius-1', platform: 'windows' })).id;
    await t.api.ok('POST', '/assignments', { profileId, deviceId });
    oldCaId = t.gw.authorities.current.id;
    await writeFile(path.join(work, 'old-ca.pem'), t.gw.rootPem);
    oldLeaf = await enroll();
    await writeFile(path.join(work, 'old-leaf.pem'), toPem(oldLeaf));
    await t.stop();
    t = null;
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await ws?.close();
  });

  it('refuses, changing nothing, when the token refuses the new key (a wrong PIN; a label it holds already)', async () => {
    const before = await files();
    const record = await readFile(path.join(dataDir, 'keys.json'), 'utf8');
    const wrongPin = await mdmgw(['ca', 'rollover', '--data-dir', dataDir], { ...hsm.env, MDMGW_PKCS11_PIN: '0000' });
    expect(wrongPin.code, show(wrongPin)).toBe(1);
    expect(wrongPin.stderr.trim()).toMatch(/^mdmgw: the PKCS#11 token "roll" refused the PIN \(CKR_PIN_INCORRECT\)[^\n]*$/);
    // A stray key where the new CA key would go: the token keeps it, the rollover stops.
    await generateTokenRsaKey(token, 'mdmgw-ca-2', 2048);
    const taken = await mdmgw(['ca', 'rollover', '--data-dir', dataDir], hsm.env);
    expect(taken.code, show(taken)).toBe(1);
    expect(taken.stderr.trim()).toMatch(/^mdmgw: the PKCS#11 token "roll" already holds a key labelled "mdmgw-ca-2"[^\n]*$/);
    expect(await files()).toEqual(before);
    expect(await readFile(path.join(dataDir, 'keys.json'), 'utf8')).toBe(record);
    await destroyTokenKey(token, 'mdmgw-ca-2');
  }, 120_000);

  it('generates the new CA key in the token, keeps the old one there as the retired CA, and writes no key file', async () => {
    const r = await mdmgw(['ca', 'rollover', '--data-dir', dataDir], hsm.env);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain(`retired CA ${oldCaId}`);
    const record = (await readKeyRecord(dataDir)) as KeyRecord;
    expect(record.ca).toEqual({ pkcs11: { label: 'mdmgw-ca-2' } });
    expect(record.retiredCas).toEqual({ [oldCaId]: { pkcs11: { label: 'mdmgw-ca' } } });
    for (const label of ['mdmgw-ca', 'mdmgw-ca-2']) expect(await tokenKeyInfo(token, label)).toMatchObject({ extractable: false, sensitive: true });
    expect((await files()).filter((f) => /(^|\/)(ca|ra|ocsp)[^/]*\.key$|^ca-retired\/.*\.key$/.test(f))).toEqual([]);
    expect(await files()).toContain(path.join('ca-retired', `${oldCaId}.pem`));
    const newCa = new X509Certificate(await readFile(path.join(dataDir, 'ca.pem')));
    expect(newCa.subject).toContain('CN=mdm-gateway Root CA 2');
    expect(Buffer.from(newCa.publicKey.export({ type: 'spki', format: 'der' }))).toEqual(Buffer.from((await tokenKeyInfo(token, 'mdmgw-ca-2')).spki));
    // The RA keeps its token key, certified by the new CA at once.
    const ra = new X509Certificate(await readFile(path.join(dataDir, 'ra.pem')));
    expect(ra.verify(newCa.publicKey)).toBe(true);
  }, 120_000);

  it('serves after the rollover: issues under the new CA; the retired CA signs its CRL and its OCSP responder in the token', async () => {
    t = await startTestGateway({ dataDir, env: hsm.env });
    expect(t.gw.authorities.current.id).not.toBe(oldCaId);
    expect(t.gw.authorities.all.map((a) => a.id)).toContain(oldCaId);
    await writeFile(path.join(work, 'new-ca.pem'), t.gw.rootPem);
    const newLeaf = await enroll();
    await writeFile(path.join(work, 'new-leaf.pem'), toPem(newLeaf));
    expect(new X509Certificate(newLeaf).verify(new X509Certificate(t.gw.rootPem).publicKey)).toBe(true);

    const serial = new X509Certificate(oldLeaf).serialNumber.toLowerCase();
    await t.api.ok('POST', `/certificates/${serial}/revoke`, { reason: 'keyCompromise' }, 200);
    // CRL of the old CA, verified trusting only the OLD root.
    const crl = await fetch(`${t.url}/pki/crl/${oldCaId}.crl`);
    expect(crl.status).toBe(200);
    await writeFile(path.join(work, 'old.crl'), new Uint8Array(await crl.arrayBuffer()));
    expect(await openssl(['crl', '-inform', 'DER', '-in', 'old.crl', '-CAfile', 'old-ca.pem', '-noout', '-verify'])).toMatch(/verify OK/);
    await openssl(['crl', '-inform', 'DER', '-in', 'old.crl', '-out', 'old.crl.pem']);
    expect(await openssl(['verify', '-crl_check', '-CAfile', 'old-ca.pem', '-CRLfile', 'old.crl.pem', 'old-leaf.pem'])).toMatch(/certificate revoked/);
    // OCSP: the old CA's own responder, its key in the token; with and without a nonce.
    for (const extra of [[], ['-no_nonce']]) {
      const old = await openssl(['ocsp', ...extra, '-CAfile', 'old-ca.pem', '-issuer', 'old-ca.pem', '-cert', 'old-leaf.pem', '-url', `${t.url}/ocsp`]);
      expect(old).toContain('Response verify OK');
      expect(old).toMatch(/old-leaf\.pem: revoked/);
      const fresh = await openssl(['ocsp', ...extra, '-CAfile', 'new-ca.pem', '-issuer', 'new-ca.pem', '-cert', 'new-leaf.pem', '-url', `${t.url}/ocsp`]);
      expect(fresh).toContain('Response verify OK');
      expect(fresh).toMatch(/new-leaf\.pem: good/);
    }
    const ocspKeys = (await readKeyRecord(dataDir))!.ocsp!;
    expect(Object.keys(ocspKeys).sort()).toEqual([oldCaId, t.gw.authorities.current.id].sort());
    for (const ref of Object.values(ocspKeys)) expect((await tokenKeyInfo(token, ref.pkcs11.label)).extractable).toBe(false);
    expect((await files()).filter((f) => /(^|\/)(ca|ra|ocsp)[^/]*\.key$|^ca-retired\/.*\.key$/.test(f))).toEqual([]);
  }, 120_000);

  it('a retired CA key missing from the token stops the start with one line naming it', async () => {
    await t!.stop();
    t = null;
    // Move the key aside under another label would need a copy; removing it is what a wrong token looks like.
    await destroyTokenKey(token, 'mdmgw-ca');
    await expect(startTestGateway({ dataDir, env: hsm.env })).rejects.toThrow(/has no private key labelled "mdmgw-ca"/);
  }, 60_000);
});
