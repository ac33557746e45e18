import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollOverCa } from '../../src/ca/ca-rollover.js';
import { toPem } from '../../src/pem.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// After `mdmgw ca rollover` the retired CA keeps publishing revocation status
// for what it issued (lifecycle issue #9, item 4): a relying party that
// trusts only the OLD root still gets a CRL signed by it and OCSP answers
// from that CA's delegated responder, and a revocation made after the
// rollover reaches both. Checked with openssl, as a RADIUS server would.

const run = promisify(execFile);
let dir: string;
let t: TestGateway;
let oldCaPem: string;
let oldCaId: string;
let newCaPem: string;
let oldLeaf: Uint8Array;
let newLeaf: Uint8Array;
let profileId: string;
let deviceId: string;

const serialOf = (der: Uint8Array) => new X509Certificate(der).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
const ocspUrlOf = (der: Uint8Array) => /OCSP - URI:(\S+)/.exec(new X509Certificate(der).infoAccess ?? '')?.[1];
/** The CRL Distribution Point URI, as OpenSSL reads it. */
const cdpOf = async (der: Uint8Array) => {
  const file = path.join(dir, `cdp-${serialOf(der)}.pem`);
  await writeFile(file, toPem(der));
  return /URI:(\S+)/.exec(await openssl(['x509', '-in', file, '-noout', '-ext', 'crlDistributionPoints']))![1]!;
};

async function openssl(args: string[]): Promise<string> {
  try {
    const r = await run('openssl', args, { cwd: dir });
    return `${r.stdout}\n${r.stderr}`;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return `${err.stdout ?? ''}\n${err.stderr ?? ''}`;
  }
}

async function enroll(subject: string): Promise<Uint8Array> {
  const { challenge } = await t.api.ok('POST', '/challenges', { profileId, deviceId });
  const r = await scepEnroll({ scepUrl: t.scepUrl, subject, challenge });
  expect(r.status).toBe('SUCCESS');
  return r.certificate!;
}

/** `openssl verify -crl_check` with the CRL fetched from the leaf's own CDP, trusting only `caFile`. */
async function crlVerdict(leaf: Uint8Array, caFile: string, name: string): Promise<string> {
  // The restart listens on another port than the one the old certificate names: same path, this gateway.
  const res = await fetch(`${t.url}${new URL(await cdpOf(leaf)).pathname}`);
  expect(res.status).toBe(200);
  await writeFile(path.join(dir, `${name}.crl`), new Uint8Array(await res.arrayBuffer()));
  await writeFile(path.join(dir, `${name}.pem`), toPem(leaf));
  const crlText = await openssl(['crl', '-inform', 'DER', '-in', `${name}.crl`, '-CAfile', caFile, '-noout', '-verify']);
  expect(crlText).toMatch(/verify OK/);
  await openssl(['crl', '-inform', 'DER', '-in', `${name}.crl`, '-out', `${name}.crl.pem`]);
  return openssl(['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', `${name}.crl.pem`, `${name}.pem`]);
}

async function ocspVerdict(leaf: Uint8Array, caFile: string, name: string): Promise<string> {
  await writeFile(path.join(dir, `${name}.pem`), toPem(leaf));
  expect(new URL(ocspUrlOf(leaf)!).pathname).toBe('/ocsp');
  return openssl(['ocsp', '-CAfile', caFile, '-issuer', caFile, '-cert', `${name}.pem`, '-url', `${t.url}/ocsp`]);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-rollover-pub-'));
  const dataDir = path.join(dir, 'data');
  t = await startTestGateway({ dataDir });
  const device = await t.api.ok('POST', '/devices', { name: 'radius-1', platform: 'windows' });
  const profile = await t.api.ok('POST', '/profiles', { name: 'wifi', scope: 'device', subjectName: 'CN={{DeviceName}}' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
  profileId = profile.id;
  deviceId = device.id;
  oldCaPem = t.gw.rootPem;
  oldCaId = t.gw.authorities.current.id;
  await writeFile(path.join(dir, 'old-ca.pem'), oldCaPem);
  oldLeaf = await enroll('CN=radius-1');
  await t.stop();

  await rollOverCa(dataDir, {});
  t = await startTestGateway({ dataDir });
  newCaPem = t.gw.rootPem;
  await writeFile(path.join(dir, 'new-ca.pem'), newCaPem);
  newLeaf = await enroll('CN=radius-1');
}, 240_000);

afterAll(async () => {
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('revocation status after a CA rollover', () => {
  it('keeps the retired CA in authorities.all, and issues under the new one', () => {
    expect(t.gw.authorities.current.id).not.toBe(oldCaId);
    expect(t.gw.authorities.all.map((a) => a.id)).toContain(oldCaId);
    expect(newCaPem).not.toBe(oldCaPem);
    expect(new X509Certificate(newLeaf).checkIssued(new X509Certificate(newCaPem))).toBe(true);
    expect(new X509Certificate(oldLeaf).checkIssued(new X509Certificate(oldCaPem))).toBe(true);
  });

  it('serves each CA its own CRL at the CDP in its certificates: OK, then revoked after a revocation made after the rollover', async () => {
    expect(await cdpOf(oldLeaf)).toContain(`/pki/crl/${oldCaId}.crl`);
    expect(await cdpOf(newLeaf)).toContain(`/pki/crl/${t.gw.authorities.current.id}.crl`);
    expect(await crlVerdict(oldLeaf, 'old-ca.pem', 'old-1')).toMatch(/old-1\.pem: OK/);
    expect(await crlVerdict(newLeaf, 'new-ca.pem', 'new-1')).toMatch(/new-1\.pem: OK/);

    await t.api.ok('POST', `/certificates/${serialOf(oldLeaf)}/revoke`, { reason: 'keyCompromise' }, 200);
    expect(await crlVerdict(oldLeaf, 'old-ca.pem', 'old-2')).toMatch(/certificate revoked/);
    // The new CA's CRL does not list the old CA's certificate, and its own leaf is still good.
    expect(await crlVerdict(newLeaf, 'new-ca.pem', 'new-2')).toMatch(/new-2\.pem: OK/);
  });

  it("answers OCSP for the retired CA's certificates with that CA's responder, and for the new CA's with its own", async () => {
    const oldAnswer = await ocspVerdict(oldLeaf, 'old-ca.pem', 'old-ocsp');
    expect(oldAnswer).toContain('Response verify OK');
    expect(oldAnswer).toMatch(/old-ocsp\.pem: revoked/);
    expect(oldAnswer).toMatch(/Reason: keyCompromise/);
    const newAnswer = await ocspVerdict(newLeaf, 'new-ca.pem', 'new-ocsp');
    expect(newAnswer).toContain('Response verify OK');
    expect(newAnswer).toMatch(/new-ocsp\.pem: good/);
    // The new certificate with the OLD CA as issuer: openssl hashes the new CA's name with the old CA's key, a CertID naming no CA.
    const crossed = await openssl(['ocsp', '-CAfile', 'old-ca.pem', '-issuer', 'old-ca.pem', '-cert', 'new-ocsp.pem', '-url', `${t.url}/ocsp`]);
    expect(crossed).toMatch(/unauthorized/);
  });
});
