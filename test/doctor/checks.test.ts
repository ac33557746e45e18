import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { generateRsa, loadOrCreateCaMaterial } from '../../src/ca/key-files.js';
import { basicConstraints, buildCertificate, keyUsage } from '../../src/ca/certificate-builder.js';
import { randomSerialNumber } from '../../src/ca/serial.js';
import { readCertificate } from '../../src/x509/cert-raw.js';
import { encodeName } from '../../src/x509/names.js';
import { diagnose, type DoctorReport } from '../../src/doctor/index.js';
import type { Evidence } from '../../src/doctor/evidence.js';
import { CA_CAPABILITIES } from '../../src/scep/service.js';
import { writeCertsOnly } from '../../src/scep/codec/index.js';

// The checks and the client lines, judged from evidence built around a real
// CA and RA (no network): each case changes one thing a broken deployment
// shows and expects exactly the clients that depend on it to notice.

const DAY = 24 * 3600_000;
const NOW = new Date();
let dir: string;
let ca: Uint8Array;
let ra: Uint8Array;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-doctor-'));
  const material = await loadOrCreateCaMaterial(dir);
  ca = material.root.certificate;
  ra = material.ra.certificate;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const text = (s: string) => new Uint8Array(Buffer.from(s));

/** A healthy https deployment as seen by --url. */
function healthy(): Evidence {
  return {
    mode: 'url',
    now: NOW,
    certificates: { origin: 'test', ca, ra, errors: [] },
    probe: {
      scepUrl: 'https://mdm.example.com/certsrv/mscep/mscep.dll',
      caps: { status: 200, contentType: 'text/plain; charset=utf-8', body: text(CA_CAPABILITIES.join('\n')) },
      caCert: { status: 200, contentType: 'application/x-x509-ca-ra-cert', body: writeCertsOnly([ra, ca]) },
      pkiGet: { status: 400, contentType: 'text/plain', body: text('PKIOperation by GET needs a message= parameter\n') },
      healthz: { status: 200, contentType: 'application/json', body: text('{"status":"ok"}') },
      clock: { server: NOW, local: NOW },
    },
    apns: { state: 'present', topic: 'com.apple.mgmt.External.0f1e', notAfter: new Date(NOW.getTime() + 300 * DAY) },
  };
}

const statusOf = (r: DoctorReport) => Object.fromEntries(r.clients.map((c) => [c.client, c.status]));
const findings = (r: DoctorReport, check: string) => r.checks.find((c) => c.check === check)!.findings;

describe('doctor checks', () => {
  it('a healthy https gateway: no problem; only sscep warns (it takes http:// URLs only)', async () => {
    const r = await diagnose(healthy(), 'test');
    expect(r.problems).toBe(0);
    expect(statusOf(r)).toEqual({ apple: 'OK', windows10: 'OK', windows81: 'OK', android: 'OK', certmonger: 'OK', scepclient: 'OK', sscep: 'WARN' });
    expect(findings(r, 'apns')).toEqual([expect.objectContaining({ severity: 'ok', message: expect.stringContaining('com.apple.mgmt.External.0f1e, 300 days left') })]);
  });

  it('clock: over 5 minutes of skew is a problem for every client; under it is fine', async () => {
    const skewed = healthy();
    skewed.probe.clock = { server: new Date(NOW.getTime() + 6 * 60_000), local: NOW };
    const r = await diagnose(skewed, 'test');
    expect(findings(r, 'clock')).toEqual([expect.objectContaining({ severity: 'problem', message: expect.stringMatching(/^the server clock is 360 s ahead of this machine/), fix: expect.stringContaining('NTP') })]);
    expect(new Set(Object.values(statusOf(r)))).toEqual(new Set(['FAIL']));
    const close = healthy();
    close.probe.clock = { server: new Date(NOW.getTime() - 4 * 60_000), local: NOW };
    expect(findings(await diagnose(close, 'test'), 'clock')[0]!.severity).toBe('ok');
  });

  it('APNs: expired fails Apple only; missing or near expiry warns Apple only', async () => {
    const expired = healthy();
    expired.apns = { state: 'present', topic: 'com.apple.mgmt.x', notAfter: new Date(NOW.getTime() - DAY) };
    const r = await diagnose(expired, 'test');
    expect(r.problems).toBe(1);
    expect(statusOf(r)).toMatchObject({ apple: 'FAIL', windows10: 'OK', android: 'OK', certmonger: 'OK' });
    expect(r.clients[0]!.issues[0]!.fix).toContain('identity.apple.com/pushcert');
    const missing = healthy();
    missing.apns = { state: 'absent' };
    expect(statusOf(await diagnose(missing, 'test'))).toMatchObject({ apple: 'WARN', windows10: 'OK' });
    const soon = healthy();
    soon.apns = { state: 'present', topic: 'com.apple.mgmt.x', notAfter: new Date(NOW.getTime() + 10 * DAY) };
    expect(findings(await diagnose(soon, 'test'), 'apns')[0]).toMatchObject({ severity: 'warning', message: expect.stringContaining('expires in 10 days') });
  });

  it('GetCACaps: advertising what the gateway does not do is a problem; leaving out AES is a warning', async () => {
    const extra = healthy();
    extra.probe.caps = { status: 200, contentType: 'text/plain', body: text(`${CA_CAPABILITIES.join('\n')}\nGetNextCACert\n`) };
    const r = await diagnose(extra, 'test');
    expect(findings(r, 'ca-caps')).toEqual([expect.objectContaining({ severity: 'problem', message: expect.stringContaining('advertises GetNextCACert') })]);
    const weak = healthy();
    weak.probe.caps = { status: 200, contentType: 'text/plain', body: text(CA_CAPABILITIES.filter((c) => c !== 'AES').join('\r\n')) };
    expect(findings(await diagnose(weak, 'test'), 'ca-caps')).toEqual([expect.objectContaining({ severity: 'warning', message: expect.stringContaining('does not advertise AES') })]);
  });

  it('PKIOperation by GET refused (a proxy allowing POST only): certmonger fails, the others do not', async () => {
    const postOnly = healthy();
    postOnly.probe.pkiGet = { status: 405, contentType: 'text/html', body: text('Method Not Allowed') };
    const r = await diagnose(postOnly, 'test');
    expect(statusOf(r)).toMatchObject({ certmonger: 'FAIL', apple: 'OK', scepclient: 'OK' });
  });

  it('GetCACert with only the CA, and an RA from another CA: problems naming each', async () => {
    const caOnly = healthy();
    caOnly.probe.caCert = { status: 200, contentType: 'application/x-x509-ca-ra-cert', body: writeCertsOnly([ca]) };
    expect(findings(await diagnose(caOnly, 'test'), 'ca-cert-response')).toEqual([expect.objectContaining({ severity: 'problem', message: 'GetCACert carries 1 certificate(s) (CA), not the RA and the CA' })]);
    const other = await loadOrCreateCaMaterial(path.join(dir, 'other'));
    const foreign = healthy();
    foreign.certificates.ra = other.ra.certificate;
    expect(findings(await diagnose(foreign, 'test'), 'ra-certificate')).toContainEqual(expect.objectContaining({ severity: 'problem', message: expect.stringContaining('is not issued by the CA certificate') }));
  });

  it('a TLS failure is named as one, with the trusted-chain fix', async () => {
    const tls = healthy();
    tls.probe = { scepUrl: tls.probe.scepUrl, unreachable: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate' };
    const r = await diagnose(tls, 'test');
    expect(findings(r, 'reachability')).toEqual([expect.objectContaining({ severity: 'problem', message: expect.stringMatching(/^TLS to https:\/\/mdm\.example\.com.* failed: UNABLE_TO_VERIFY/), fix: expect.stringContaining('trusted TLS chain') })]);
    expect(r.checks.find((c) => c.check === 'ca-caps')!.skipped).toContain('did not answer');
  });

  describe('a subordinate CA (ca import): the chain must reach a self-signed root', () => {
    let enterprise: Awaited<ReturnType<typeof loadOrCreateCaMaterial>>['root'];
    let sub: Uint8Array;
    let intermediateOnly: Uint8Array;
    beforeAll(async () => {
      enterprise = (await loadOrCreateCaMaterial(path.join(dir, 'enterprise'))).root;
      const issue = async (subject: string, issuer: { certificate: Uint8Array; key: typeof enterprise.key }) =>
        buildCertificate({
          serialNumber: randomSerialNumber(),
          issuerName: readCertificate(issuer.certificate).subjectName,
          subjectName: encodeName([{ type: 'CN', value: subject }]),
          notBefore: new Date(NOW.getTime() - DAY),
          notAfter: new Date(NOW.getTime() + 365 * DAY),
          spki: new Uint8Array(createPublicKey((await generateRsa(2048)) as KeyObject).export({ type: 'spki', format: 'der' })),
          extensions: [basicConstraints(true), keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign'])],
          hash: 'sha256',
          signer: issuer.key,
        });
      sub = await issue('Contoso MDM Issuing CA', enterprise);
      // An intermediate of the enterprise root, which did not sign `sub`.
      intermediateOnly = await issue('Contoso Other Intermediate', enterprise);
    });

    const withChain = (mode: 'config' | 'url', chain: Uint8Array[] | null): Evidence => {
      const ev = healthy();
      ev.mode = mode;
      ev.certificates = { origin: mode === 'config' ? '/data' : 'GetCACert of https://mdm.example.com', ca: sub, ra, chain, errors: [] };
      return ev;
    };
    const caFindings = async (ev: Evidence) => findings(await diagnose(ev, 'test'), 'ca-certificate');

    it('a chain up to a self-signed root: no "not self-signed" warning, one ok line naming the root (data directory and GetCACert)', async () => {
      for (const mode of ['config', 'url'] as const) {
        const f = await caFindings(withChain(mode, [enterprise.certificate]));
        expect(f.filter((x) => x.severity !== 'ok'), mode).toEqual([]);
        expect(f).toContainEqual(expect.objectContaining({ severity: 'ok', message: expect.stringMatching(/^CA certificate chains to the self-signed root "CN=mdm-gateway Root CA, O=mdm-gateway" \(0 intermediate\(s\)/) }));
      }
    });

    it('no chain, a chain that stops at an intermediate, or one of another root: a warning saying which, with the import fix', async () => {
      const none = await caFindings(withChain('config', null));
      expect(none).toContainEqual(expect.objectContaining({ severity: 'warning', message: 'CA certificate is not self-signed and /data/ca-chain.pem has no chain above it: devices cannot be given the root it chains to', fix: expect.stringContaining('mdmgw ca import') }));
      for (const chain of [[intermediateOnly], [ca]]) {
        const broken = await caFindings(withChain('config', chain));
        expect(broken).toContainEqual(expect.objectContaining({ severity: 'warning', message: 'the CA chain in /data/ca-chain.pem does not reach a self-signed root: nothing in it signed "CN=Contoso MDM Issuing CA" (issuer "CN=mdm-gateway Root CA, O=mdm-gateway")' }));
        expect(broken.some((x) => x.severity === 'ok' && /chains to/.test(x.message))).toBe(false);
      }
    });
  });
});
