import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceAdapter } from '../../src/adapters/reference/index.js';
import { writePkiRequest } from '../../src/scep/codec/index.js';
import { getCaCerts, scepEnroll, scepGetCrl, sendPkiMessage, type EnrollResult } from '../../src/sim/scep-client.js';
import { readCertRep } from '../../src/scep/codec/index.js';
import { readCertificate } from '../../src/x509/cert-raw.js';
import { softwareKey } from '../../src/x509/software-key.js';
import { toPem } from '../../src/pem.js';
import { openssl, opensslOutput, tempDir } from '../ca/helpers.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Lifecycle issue #9, item 1 (the CRL half): a relying party that checks the
// CRL (here OpenSSL, what FreeRADIUS and strongSwan use underneath) stops
// accepting a certificate as soon as it is revoked through the admin API.
// Real gateway, real SCEP enrollment, the CRL fetched from the URL in the
// certificate's CRL Distribution Point, the exact openssl commands of
// docs/revocation.md.

let t: TestGateway;
const dir = tempDir('mdmgw-crl-interop-');
let caId: string;
let caPem: string;
let profile: { id: string };

const file = (name: string, bytes: Uint8Array | string): string => {
  const p = join(dir.path, name);
  writeFileSync(p, bytes);
  return p;
};

/** The CRL Distribution Point URI of a certificate, as OpenSSL reads it. */
function cdpOf(der: Uint8Array): string {
  const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], { input: der });
  const m = /X509v3 CRL Distribution Points:\s*\n\s*Full Name:\s*\n\s*URI:(\S+)/.exec(text);
  if (!m) throw new Error(`no CRL Distribution Point in\n${text}`);
  return m[1]!;
}

/** `openssl verify -crl_check` of the leaf with the CRL fetched from its CDP: the relying party's view. */
async function relyingPartyVerdict(leaf: Uint8Array, name: string): Promise<string> {
  const res = await fetch(cdpOf(leaf));
  expect(res.status).toBe(200);
  const crlDer = file(`${name}.crl`, new Uint8Array(await res.arrayBuffer()));
  openssl(['crl', '-inform', 'DER', '-in', crlDer, '-out', `${crlDer}.pem`]);
  const leafPem = file(`${name}.pem`, toPem(leaf));
  return opensslOutput(['verify', '-crl_check', '-CAfile', caPem, '-CRLfile', `${crlDer}.pem`, leafPem]);
}

async function enroll(name: string): Promise<EnrollResult> {
  const device = await t.api.ok('POST', '/devices', { name, platform: 'android' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
  const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
  const r = await scepEnroll({ scepUrl: t.scepUrl, subject: `CN=${name}, O=Crl`, challenge });
  expect(r.status).toBe('SUCCESS');
  return Object.assign(r, { deviceId: device.id as string });
}

const serialOf = (der: Uint8Array) => new X509Certificate(der).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
const crlNumberOf = (text: string) => Number(/X509v3 CRL Number:\s*\n\s*(\d+)/.exec(text)?.[1]);
const crlTextOf = (der: Uint8Array, name: string) => {
  const out = opensslOutput(['crl', '-inform', 'DER', '-in', file(name, der), '-CAfile', caPem, '-noout', '-verify', '-text']);
  expect(out).toMatch(/^verify OK$/m);
  return out;
};

beforeAll(async () => {
  t = await startTestGateway({ adapters: [referenceAdapter], dataDir: join(dir.path, 'data') });
  caId = t.gw.authorities.current.id;
  caPem = file('ca.pem', t.gw.rootPem);
  profile = await t.api.ok('POST', '/profiles', { name: 'crl', scope: 'device', subjectName: 'CN={{DeviceName}},O=Crl' });
});
afterAll(async () => {
  await t.stop();
  dir.cleanup();
});

describe('CRL publication with a real relying party (openssl)', () => {
  it('the issued certificate names our CRL and OCSP; openssl verify -crl_check: OK, then "certificate revoked" after POST /revoke', async () => {
    const phone = await enroll('crl-phone-1');
    const leaf = phone.certificate!;
    expect(cdpOf(leaf)).toBe(`${t.url}/pki/crl/${caId}.crl`);
    expect(openssl(['x509', '-inform', 'DER', '-noout', '-ocsp_uri'], { input: leaf }).trim()).toBe(`${t.url}/ocsp`);

    const good = await relyingPartyVerdict(leaf, 'before');
    expect(good).toMatch(/: OK$/m);
    const before = crlNumberOf(openssl(['crl', '-inform', 'DER', '-in', join(dir.path, 'before.crl'), '-noout', '-text']));

    const serial = serialOf(leaf);
    await t.api.ok('POST', `/certificates/${serial}/revoke`, { reason: 'keyCompromise' }, 200);
    const revoked = await relyingPartyVerdict(leaf, 'after');
    expect(revoked).toContain('certificate revoked');
    expect(revoked).not.toMatch(/: OK$/m);

    // openssl crl -verify against the CA, and -text: the reason and a larger CRL Number.
    const text = crlTextOf(new Uint8Array(await (await fetch(cdpOf(leaf))).arrayBuffer()), 'after-text.der');
    expect(text).toMatch(new RegExp(`Serial Number: 0*${serial.toUpperCase()}\\n\\s+Revocation Date: [^\\n]+\\n\\s+CRL entry extensions:\\n\\s+X509v3 CRL Reason Code:\\s*\\n\\s+Key Compromise`));
    expect(crlNumberOf(text)).toBeGreaterThan(before);
  });

  it('a device block (another revocation path) reaches the CRL too, with its reason', async () => {
    const phone = (await enroll('crl-phone-2')) as EnrollResult & { deviceId: string };
    expect(await relyingPartyVerdict(phone.certificate!, 'block-before')).toMatch(/: OK$/m);
    await t.api.ok('POST', `/devices/${phone.deviceId}/block`, {}, 200);
    expect(await relyingPartyVerdict(phone.certificate!, 'block-after')).toContain('certificate revoked');
    expect(crlTextOf(new Uint8Array(await (await fetch(cdpOf(phone.certificate!))).arrayBuffer()), 'block.der')).toContain('Cessation Of Operation');
  });

  it('serves DER with application/pkix-crl and cache headers matching thisUpdate/nextUpdate; HEAD works; the same CRL while nothing changes', async () => {
    const url = `${t.url}/pki/crl/${caId}.crl`;
    const a = await fetch(url);
    const der = new Uint8Array(await a.arrayBuffer());
    expect(a.headers.get('content-type')).toBe('application/pkix-crl');
    const text = crlTextOf(der, 'headers.der');
    const lastUpdate = new Date(/Last Update: (.+ GMT)/.exec(text)![1]!);
    const nextUpdate = new Date(/Next Update: (.+ GMT)/.exec(text)![1]!);
    expect(nextUpdate.getTime() - lastUpdate.getTime()).toBe(24 * 3600_000);
    expect(a.headers.get('last-modified')).toBe(lastUpdate.toUTCString());
    expect(a.headers.get('expires')).toBe(nextUpdate.toUTCString());
    const maxAge = Number(/^public, max-age=(\d+)$/.exec(a.headers.get('cache-control') ?? '')?.[1]);
    // Refresh at half the validity: at most 12 h from thisUpdate, never past nextUpdate.
    expect(maxAge).toBeGreaterThan(12 * 3600 - 120);
    expect(maxAge).toBeLessThanOrEqual(12 * 3600);

    const b = await fetch(url);
    expect(Buffer.from(await b.arrayBuffer()).equals(Buffer.from(der))).toBe(true);
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('application/pkix-crl');
    expect(head.headers.get('etag')).toBe(a.headers.get('etag'));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('serves the CA certificate for AIA caIssuers (DER, application/pkix-cert)', async () => {
    const res = await fetch(`${t.url}/pki/ca/${caId}.cer`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pkix-cert');
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(t.gw.root.certificate))).toBe(true);
  });

  it('answers unknown /pki paths with 404 and a reason, never a CRL of another CA', async () => {
    for (const p of [`/pki/crl/${'ab'.repeat(20)}.crl`, '/pki/crl/zz.crl', `/pki/crl/${caId}.cer`, `/pki/crl/${caId}`, '/pki/crl/', '/pki/ca/00.cer', `/pki/ca/${caId}.crl`, '/pki/other', `/pki/crl/..%2F${caId}.crl`]) {
      const res = await fetch(`${t.url}${p}`);
      expect(res.status, p).toBe(404);
      expect(res.headers.get('content-type'), p).toMatch(/^text\/plain/);
      expect(await res.text(), p).toMatch(/\/pki\/(crl|ca)\/<CA id>/);
    }
  });
});

describe('SCEP GetCRL (RFC 8894 3.3.4)', () => {
  it('answers with the CRL of the issuer named, the same one served over HTTP', async () => {
    const phone = await enroll('crl-phone-3');
    await t.api.ok('POST', `/certificates/${serialOf(phone.certificate!)}/revoke`, { reason: 'superseded' }, 200);
    const http = new Uint8Array(await (await fetch(`${t.url}/pki/crl/${caId}.crl`)).arrayBuffer());
    // A device asks with its own certificate, naming itself.
    const rep = await scepGetCrl(t.scepUrl, {
      serialNumber: Buffer.from(serialOf(phone.certificate!), 'hex'),
      requester: { certificate: phone.certificate!, key: softwareKey(phone.key.keyObject) },
    });
    expect(rep.status).toBe('SUCCESS');
    expect(rep.certificates).toEqual([]);
    expect(rep.crls).toHaveLength(1);
    expect(Buffer.from(rep.crls[0]!).equals(Buffer.from(http))).toBe(true);
    const text = crlTextOf(rep.crls[0]!, 'getcrl.der');
    expect(text).toContain(serialOf(phone.certificate!).toUpperCase());
    expect(text).toContain('Superseded');
  });

  it('refuses an issuer we do not have with FAILURE badCertId', async () => {
    const rep = await scepGetCrl(t.scepUrl, { serialNumber: Uint8Array.of(1), issuer: raSubject() });
    expect(rep.status).toBe('FAILURE');
    expect(rep.failInfo).toBe('badCertId');
    expect(rep.failInfoText).toMatch(/^CERTIFICATE_UNKNOWN/);
  });

  it('answers a malformed GetCRL (not an IssuerAndSerialNumber) with a signed FAILURE badMessageCheck, not HTTP 500', async () => {
    const { ra } = await getCaCerts(t.scepUrl);
    const requester = await enroll('crl-phone-4');
    const signer = { certificate: requester.certificate!, key: softwareKey(requester.key.keyObject) };
    // IssuerAndSubject (two Names) where an IssuerAndSerialNumber belongs.
    const req = await writePkiRequest({
      messageType: 'CertPoll',
      messageTypeNumber: 22,
      transactionId: 'malformed-getcrl-1',
      issuerAndSubject: { issuer: raSubject(), subject: raSubject() },
      signer,
      recipient: ra,
      cipher: 'aes-256-cbc',
      digest: 'sha256',
    });
    const rep = await readCertRep(await sendPkiMessage(t.scepUrl, req), signer, ra);
    expect(rep.status).toBe('FAILURE');
    expect(rep.failInfo).toBe('badMessageCheck');
    expect(rep.transactionId).toBe('malformed-getcrl-1');
  });
});

describe('CRL Number across a restart', () => {
  it('keeps growing when the gateway restarts on the same data directory', async () => {
    const url = () => `${t.url}/pki/crl/${caId}.crl`;
    const before = crlNumberOf(crlTextOf(new Uint8Array(await (await fetch(url())).arrayBuffer()), 'restart-1.der'));
    await t.stop();
    t = await startTestGateway({ adapters: [referenceAdapter], dataDir: join(dir.path, 'data') });
    expect(t.gw.authorities.current.id).toBe(caId);
    const after = crlNumberOf(crlTextOf(new Uint8Array(await (await fetch(url())).arrayBuffer()), 'restart-2.der'));
    expect(after).toBeGreaterThan(before);
  });
});

describe('several gateway instances on one database', () => {
  it('a revocation through one instance is in the CRL the other serves at once, and their CRL Numbers never collide', async () => {
    const second = await startTestGateway({ adapters: [referenceAdapter], dataDir: join(dir.path, 'data') });
    try {
      expect(second.gw.authorities.current.id).toBe(caId);
      const phone = await enroll('crl-phone-5');
      const serial = serialOf(phone.certificate!).toUpperCase();
      const crlAt = async (base: string, name: string) => crlTextOf(new Uint8Array(await (await fetch(`${base}/pki/crl/${caId}.crl`)).arrayBuffer()), name);
      expect(await crlAt(t.url, 'a-before.der')).not.toContain(serial);
      expect(await crlAt(second.url, 'b-before.der')).not.toContain(serial);
      await second.api.ok('POST', `/certificates/${serial.toLowerCase()}/revoke`, { reason: 'affiliationChanged' }, 200);
      const a = await crlAt(t.url, 'a-after.der');
      expect(a).toContain(serial);
      expect(a).toContain('Affiliation Changed');
      const b = await crlAt(second.url, 'b-after.der');
      expect(b).toContain(serial);
      expect(crlNumberOf(a)).not.toBe(crlNumberOf(b));
    } finally {
      await second.stop();
    }
  });
});

describe('revocation URLs in the start-up log', () => {
  it('warns when a CRL or OCSP URL is https, and not when relying parties get plain http', async () => {
    const capture = async (env: Record<string, string>) => {
      let log = '';
      const sink = new PassThrough();
      sink.on('data', (d) => (log += d));
      const g = await startTestGateway({ env, logTo: sink });
      await g.stop();
      return log.split('\n').filter((l) => l.includes('revocation URL'));
    };
    const https = await capture({ MDMGW_PUBLIC_URL: 'https://mdm.example.com' });
    expect(https.map((l) => JSON.parse(l).setting).sort()).toEqual(['MDMGW_CRL_URL', 'MDMGW_OCSP_URL']);
    expect(JSON.parse(https[0]!).level).toBe(40);
    expect(await capture({ MDMGW_PUBLIC_URL: 'https://mdm.example.com', MDMGW_CRL_URL: 'http://pki.example.com/crl', MDMGW_OCSP_URL: 'http://pki.example.com/ocsp' })).toEqual([]);
  });
});

/** The RA certificate's subject Name DER: a well-formed Name that is no CA of ours. */
function raSubject(): Uint8Array {
  return readCertificate(t.gw.ra.certificate).subjectName;
}
