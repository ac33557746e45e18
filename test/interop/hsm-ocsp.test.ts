import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKeyRecord } from '../../src/ca/pkcs11/key-record.js';
import { initCaInToken } from '../../src/ca/pkcs11/token-ca.js';
import { destroyTokenKey, tokenKeyInfo } from '../../src/ca/pkcs11/token-key.js';
import type { Pkcs11Token } from '../../src/ca/pkcs11/token.js';
import { toPem } from '../../src/pem.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { readCertificate } from '../../src/x509/cert-raw.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { softHsmMissing, softHsmWorkspace, SOFTHSM_MODULE, type SoftHsmToken, type SoftHsmWorkspace } from '../helpers/softhsm.js';

// Issue 12: with the CA in a PKCS#11 token, the OCSP responder's delegated key
// is generated in the same token (never a file), `openssl ocsp` verifies the
// answers it signs there, and a restart finds the same key again by its label.

const run = promisify(execFile);
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

async function enrolled(name: string): Promise<string> {
  const { challenge } = await t!.api.ok('POST', '/challenges', { profileId, deviceId });
  const r = await scepEnroll({ scepUrl: t!.scepUrl, subject: 'CN=hsm-ocsp, O=Ocsp', challenge });
  expect(r.status).toBe('SUCCESS');
  await writeFile(path.join(work, `${name}.pem`), toPem(r.certificate!));
  return new X509Certificate(r.certificate!).serialNumber.toLowerCase();
}

/** `openssl ocsp` as a relying party runs it, trusting only ca.pem; stdout + stderr. */
async function ocsp(leaf: string, ...extra: string[]): Promise<string> {
  const ca = path.join(dataDir, 'ca.pem');
  const r = await run('openssl', ['ocsp', ...extra, '-CAfile', ca, '-issuer', ca, '-cert', path.join(work, leaf), '-url', `${t!.url}/ocsp`, '-resp_text'], { cwd: work }).catch(
    (e: { stdout: string; stderr: string }) => e,
  );
  return `${r.stdout}\n${r.stderr}`;
}

const responderLabel = async (caId: string) => (await readKeyRecord(dataDir))?.ocsp?.[caId]?.pkcs11.label;

describe.skipIf(missing !== null)('the OCSP responder key of a token CA is in the token (SoftHSM)', () => {
  beforeAll(async () => {
    ws = await softHsmWorkspace('ocsp', 'mdmgw-hsm-ocsp-');
    ({ hsm, token, work, dataDir } = ws);
    await initCaInToken(dataDir, token, { organization: 'HSM OCSP', caKeyBits: 2048 });
    t = await startTestGateway({ dataDir, env: hsm.env });
    profileId = (await t.api.ok('POST', '/profiles', { name: 'ocsp', scope: 'device', subjectName: 'CN={{DeviceName}},O=Ocsp' })).id;
    deviceId = (await t.api.ok('POST', '/devices', { name: 'hsm-ocsp', platform: 'windows' })).id;
    await t.api.ok('POST', '/assignments', { profileId, deviceId });
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
    await ws?.close();
  });

  it('generates the responder key in the token (sensitive, not extractable, recorded in keys.json), writes no ocsp-*.key', async () => {
    const caId = t!.gw.authorities.current.id;
    const files = await readdir(dataDir);
    expect(files.filter((f) => f.endsWith('.key') && f.startsWith('ocsp'))).toEqual([]);
    expect(files).toContain(`ocsp-${caId}.pem`);
    const label = await responderLabel(caId);
    expect(label).toMatch(/^mdmgw-ocsp-[0-9a-f]{32}-[0-9a-f]{8}$/);
    const info = await tokenKeyInfo(token, label!);
    expect(info).toMatchObject({ algorithm: 'RSA', extractable: false, sensitive: true });
    // The certificate on disk is for that token key, and the token CA issued it.
    const cert = new X509Certificate(await readFile(path.join(dataDir, `ocsp-${caId}.pem`)));
    expect(Buffer.from(readCertificate(new Uint8Array(cert.raw)).spki)).toEqual(Buffer.from(info.spki));
    expect(cert.verify(new X509Certificate(t!.gw.rootPem).publicKey)).toBe(true);
    // Sign only: the private key cannot decrypt, and its value cannot be read.
    await token.withSession('inspect', (s) => {
      const h = token.findObject(s, pkcs11js.CKO_PRIVATE_KEY, label!)!;
      const [decrypt] = token.api.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_DECRYPT }]);
      expect((decrypt!.value as Buffer).readUInt8(0)).toBe(0);
      expect(() => token.api.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_PRIVATE_EXPONENT }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    });
    // OpenSC's pkcs11-tool, an independent reader, lists it as never extractable.
    const listed = await run('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', 'ocsp', '--login', '--pin', hsm.pin, '--list-objects', '--type', 'privkey'], { env: { ...process.env, SOFTHSM2_CONF: hsm.conf } }).catch((e: { stdout: string }) => e);
    expect(listed.stdout).toMatch(new RegExp(`label:\\s+${label}[\\s\\S]*?Access:\\s+sensitive, always sensitive, never extractable`));
  });

  it('openssl ocsp verifies a good and a revoked answer signed in the token, with and without a nonce', async () => {
    const serial = await enrolled('leaf');
    const good = await ocsp('leaf.pem');
    expect(good).toContain('Response verify OK');
    expect(good).toMatch(/leaf\.pem: good/);
    expect(good).toContain('OCSP Nonce');
    expect(good).toContain('Subject: CN=mdm-gateway OCSP Responder');
    const goodNoNonce = await ocsp('leaf.pem', '-no_nonce');
    expect(goodNoNonce).toContain('Response verify OK');
    expect(goodNoNonce).toMatch(/leaf\.pem: good/);
    expect(goodNoNonce).not.toContain('OCSP Nonce');

    await t!.api.ok('POST', `/certificates/${serial}/revoke`, { reason: 'keyCompromise' }, 200);
    for (const extra of [[], ['-no_nonce']]) {
      const revoked = await ocsp('leaf.pem', ...extra);
      expect(revoked).toContain('Response verify OK');
      expect(revoked).toMatch(/leaf\.pem: revoked/);
      expect(revoked).toMatch(/Reason: keyCompromise/);
    }
  }, 60_000);

  it('a restart finds the same token key by its label and answers with it', async () => {
    const caId = t!.gw.authorities.current.id;
    const label = await responderLabel(caId);
    const certBefore = await readFile(path.join(dataDir, `ocsp-${caId}.pem`), 'utf8');
    await t!.stop();
    t = await startTestGateway({ dataDir, env: hsm.env });
    expect(await responderLabel(caId)).toBe(label);
    expect(await readFile(path.join(dataDir, `ocsp-${caId}.pem`), 'utf8')).toBe(certBefore);
    expect((await t.gw.ocsp.responders.get(t.gw.authorities.current)).certificate).toEqual(new Uint8Array(new X509Certificate(certBefore).raw));
    await enrolled('leaf2');
    const out = await ocsp('leaf2.pem');
    expect(out).toContain('Response verify OK');
    expect(out).toMatch(/leaf2\.pem: good/);
    expect((await readdir(dataDir)).filter((f) => /^ocsp.*\.key$/.test(f))).toEqual([]);
  }, 60_000);

  it('a responder key removed from the token: answers tryLater while running, and the next start stops with one line naming the key', async () => {
    const caId = t!.gw.authorities.current.id;
    const label = (await responderLabel(caId))!;
    await destroyTokenKey(token, label);
    // A nonce'd request is signed fresh (no cache): the token cannot, the answer says so instead of failing.
    const out = await ocsp('leaf2.pem');
    expect(out).toMatch(/Responder Error: trylater \(3\)/i);
    expect((await fetch(`${t!.url}/healthz`)).status).toBe(200);
    await t!.stop();
    t = null;
    await expect(startTestGateway({ dataDir, env: hsm.env })).rejects.toThrow(
      new RegExp(`the OCSP responder key "${label}" of CA ${caId} \\(keys.json\\) is not in the PKCS#11 token "ocsp".*remove .*ocsp-${caId}\\.pem`),
    );
    // The way out the message gives: without the certificate a new key is generated in the token.
    await rm(path.join(dataDir, `ocsp-${caId}.pem`));
    t = await startTestGateway({ dataDir, env: hsm.env });
    const fresh = await responderLabel(caId);
    expect(fresh).not.toBe(label);
    expect((await tokenKeyInfo(token, fresh!)).extractable).toBe(false);
    expect(await ocsp('leaf2.pem')).toContain('Response verify OK');
  }, 60_000);
});
