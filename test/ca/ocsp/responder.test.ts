import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authoritiesOf } from '../../../src/ca/authorities.js';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { loadOrCreateCaMaterial } from '../../../src/ca/key-files.js';
import { OcspResponder } from '../../../src/ca/ocsp/responder.js';
import { createLogger } from '../../../src/log.js';
import { scepEnroll } from '../../../src/sim/scep-client.js';
import { verifyIssuedBy } from '../../../src/x509/certificate-info.js';
import { bool, contextConstructed, integer, nullValue, objectIdentifier, octetString, sequence, unsignedInteger } from '../../../src/x509/asn1/der.js';
import { fromHex } from '../../../src/x509/asn1/bytes.js';
import { readCertificate } from '../../../src/x509/cert-raw.js';
import { publicKeyBits } from '../../../src/ca/certificate-builder.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { tempDir } from '../../helpers/openssl.js';
import { certId, decodeResponse, ocspRequest } from './helpers.js';

// The responder on the gateway's real SQLite storage and CA, with
// certificates enrolled over SCEP. Lifecycle issue #9, item 1.

let t: TestGateway;
let ca: Uint8Array;
let profile: { id: string };
let device: { id: string };
const log = createLogger('silent');

beforeAll(async () => {
  t = await startTestGateway();
  ca = t.gw.authorities.current.certificate;
  device = await t.api.ok('POST', '/devices', { name: 'ocsp-r', platform: 'windows' });
  profile = await t.api.ok('POST', '/profiles', { name: 'ocsp-r', scope: 'device', subjectName: 'CN={{DeviceName}},O=Ocsp' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
});
afterAll(async () => {
  await t.stop();
});

async function issued(): Promise<string> {
  const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
  const r = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=ocsp-r, O=Ocsp', challenge });
  expect(r.status).toBe('SUCCESS');
  return new X509Certificate(r.certificate!).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
}

/** A responder of our own over the gateway's storage and CAs, with a clock the test moves. */
async function responderAt(clock: { now: Date }, cas = t.gw.authorities) {
  const dataDir = await tempDir('ocsp-responder-');
  const responder = new OcspResponder({ authorities: cas, storage: t.gw.storage, dataDir, log, now: () => clock.now, validityMinutes: 60 });
  return { responder, dataDir, done: () => rm(dataDir, { recursive: true, force: true }) };
}

describe('OCSP responder', () => {
  it('answers good, signed by a responder certificate its CA issued; the same bytes again from the cache', async () => {
    const serial = await issued();
    const first = await t.gw.ocsp.respond(ocspRequest({ issuer: ca, serial }));
    const r = decodeResponse(first.der);
    expect(r).toMatchObject({ status: 0, signatureValid: true, single: [{ status: 'good', serial }] });
    expect(await verifyIssuedBy(r.responderCertificate!, ca)).toBe(true);
    expect(r.single[0]!.nextUpdate!.getTime() - r.single[0]!.thisUpdate.getTime()).toBe(60 * 60_000);
    const second = await t.gw.ocsp.respond(ocspRequest({ issuer: ca, serial }));
    expect(Buffer.from(second.der).equals(Buffer.from(first.der))).toBe(true);
    expect(second.cacheable?.etag).toBe(first.cacheable?.etag);
  });

  it('stops serving a cached good the moment the database says revoked, whoever revoked it (another instance on the same database)', async () => {
    const serial = await issued();
    const req = ocspRequest({ issuer: ca, serial, hash: 'sha256' });
    expect(decodeResponse((await t.gw.ocsp.respond(req)).der).single[0]!.status).toBe('good');
    // Not through the admin API: straight into the shared database, as another gateway instance would.
    const at = new Date(Date.now() - 1000).toISOString();
    expect(await t.gw.storage.revokeCertificateChain(serial, at, 'keyCompromise')).toMatchObject({ ok: true });
    const after = await t.gw.ocsp.respond(req);
    expect(decodeResponse(after.der)).toMatchObject({
      status: 0,
      signatureValid: true,
      single: [{ status: 'revoked', revokedAt: new Date(Math.floor(Date.parse(at) / 1000) * 1000), reason: 1 }],
    });
    expect(after.outcome).toBe('revoked');
  });

  it('echoes a nonce and signs such a request fresh (never from the cache); a nonce over 32 octets is malformedRequest', async () => {
    const serial = await issued();
    const nonce = randomBytes(32);
    const a = await t.gw.ocsp.respond(ocspRequest({ issuer: ca, serial, nonce }));
    const da = decodeResponse(a.der);
    expect(da).toMatchObject({ status: 0, signatureValid: true, single: [{ status: 'good' }] });
    expect(da.nonce).toBe(`0420${nonce.toString('hex')}`);
    expect(a.cacheable).toBeNull();
    const b = decodeResponse((await t.gw.ocsp.respond(ocspRequest({ issuer: ca, serial, nonce: randomBytes(16) }))).der);
    expect(b.nonce).not.toBe(da.nonce);
    const tooLong = await t.gw.ocsp.respond(ocspRequest({ issuer: ca, serial, nonce: randomBytes(33) }));
    expect(decodeResponse(tooLong.der)).toEqual({ status: 1, single: [] });
  });

  it('answers unknown for a serial we never issued, and several CertIDs of one CA in one response', async () => {
    const serial = await issued();
    await t.api.ok('POST', `/certificates/${serial}/revoke`, { reason: 'superseded' }, 200);
    const r = decodeResponse((await t.gw.ocsp.respond(ocspRequest({ issuer: ca, serial: '7f0011' }, { issuer: ca, serial, hash: 'sha256' }))).der);
    expect(r).toMatchObject({ status: 0, signatureValid: true, single: [{ status: 'unknown', serial: '7f0011' }, { status: 'revoked', serial, reason: 4 }] });
  });

  it('a CertID naming another issuer, or a hash it cannot match, is unauthorized', async () => {
    const otherDir = await tempDir('ocsp-other-ca-');
    const other = await loadOrCreateCaMaterial(otherDir);
    await rm(otherDir, { recursive: true, force: true });
    expect(decodeResponse((await t.gw.ocsp.respond(ocspRequest({ issuer: other.root.certificate, serial: '01' }))).der)).toEqual({ status: 6, single: [] });
    // One of ours and one foreign: one responder cannot sign for both.
    const serial = await issued();
    const mixed = ocspRequest({ issuer: ca, serial }, { issuer: other.root.certificate, serial: '01' });
    expect(decodeResponse((await t.gw.ocsp.respond(mixed)).der).status).toBe(6);
    // An MD5 CertID (1.2.840.113549.2.5) of our CA: not a hash we match issuers with.
    const raw = readCertificate(ca);
    const md5 = (b: Uint8Array) => createHash('md5').update(b).digest();
    const md5Id = sequence(sequence(objectIdentifier('1.2.840.113549.2.5'), nullValue()), octetString(md5(raw.subjectName)), octetString(md5(publicKeyBits(raw.spki))), unsignedInteger(fromHex(serial)));
    expect(decodeResponse((await t.gw.ocsp.respond(sequence(sequence(sequence(sequence(md5Id)))))).der).status).toBe(6);
  });

  it('answers for a retired CA with that CA\'s own responder; a serial of another of our CAs is unknown', async () => {
    const dir = await tempDir('ocsp-new-ca-');
    const newCa = new CertificateAuthority((await loadOrCreateCaMaterial(dir)).root);
    const old = t.gw.authorities.current;
    const clock = { now: new Date() };
    const { responder, done } = await responderAt(clock, authoritiesOf([newCa, old]));
    try {
      const serial = await issued(); // by the old (now retired) CA
      const r = decodeResponse((await responder.respond(ocspRequest({ issuer: old.certificate, serial }))).der);
      expect(r).toMatchObject({ status: 0, signatureValid: true, single: [{ status: 'good' }] });
      expect(await verifyIssuedBy(r.responderCertificate!, old.certificate)).toBe(true);
      const viaNew = decodeResponse((await responder.respond(ocspRequest({ issuer: newCa.certificate, serial }))).der);
      expect(viaNew).toMatchObject({ status: 0, signatureValid: true, single: [{ status: 'unknown' }] });
      expect(await verifyIssuedBy(viaNew.responderCertificate!, newCa.certificate)).toBe(true);
    } finally {
      await done();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('re-signs a cached response once half its validity has passed', async () => {
    const serial = await issued();
    const clock = { now: new Date() };
    const { responder, done } = await responderAt(clock);
    try {
      const req = ocspRequest({ issuer: ca, serial });
      const first = decodeResponse((await responder.respond(req)).der);
      clock.now = new Date(clock.now.getTime() + 29 * 60_000);
      expect(decodeResponse((await responder.respond(req)).der).producedAt).toEqual(first.producedAt);
      clock.now = new Date(clock.now.getTime() + 2 * 60_000);
      const later = decodeResponse((await responder.respond(req)).der);
      expect(later.producedAt!.getTime()).toBeGreaterThan(first.producedAt!.getTime());
      expect(later.single[0]!.nextUpdate!.getTime()).toBe(Math.floor(clock.now.getTime() / 1000) * 1000 + 60 * 60_000);
    } finally {
      await done();
    }
  });

  it('refuses malformed requests as malformedRequest, writing nothing and caching nothing', async () => {
    const serial = await issued();
    const good = ocspRequest({ issuer: ca, serial });
    const list = (n: number) => sequence(sequence(sequence(...Array.from({ length: n }, () => sequence(certId({ issuer: ca, serial }))))));
    const bad: Record<string, Uint8Array> = {
      empty: new Uint8Array(0),
      garbage: new Uint8Array(randomBytes(200)),
      truncated: good.subarray(0, good.length - 3),
      'trailing bytes': Uint8Array.from([...good, 0]),
      'empty requestList': sequence(sequence(sequence())),
      'too many CertIDs': list(17),
      'version 2': sequence(sequence(contextConstructed(0, integer(1)), sequence(sequence(certId({ issuer: ca, serial }))))),
      'indefinite length': Uint8Array.from([0x30, 0x80, ...good.subarray(2), 0, 0]),
      'two nonces': sequence(sequence(sequence(sequence(certId({ issuer: ca, serial }))), contextConstructed(2, sequence(nonceExt(), nonceExt())))),
      'bad extension': sequence(sequence(sequence(sequence(certId({ issuer: ca, serial }))), contextConstructed(2, sequence(sequence(objectIdentifier('1.2.3'), bool(true)))))),
      oversized: sequence(sequence(sequence(sequence(certId({ issuer: ca, serial }))), contextConstructed(2, sequence(sequence(objectIdentifier('1.2.3'), octetString(new Uint8Array(9000))))))),
    };
    const entries = t.gw.ocsp.cache.size;
    const files = await readdir(t.dataDir);
    const audit = (await t.gw.storage.listAudit()).length;
    for (const [name, der] of Object.entries(bad)) {
      const answer = await t.gw.ocsp.respond(der);
      expect(decodeResponse(answer.der), name).toEqual({ status: 1, single: [] });
      expect(answer.outcome, name).toBe('malformedRequest');
    }
    expect(list(16).length).toBeLessThan(8192);
    expect(decodeResponse((await t.gw.ocsp.respond(list(16))).der).single).toHaveLength(16);
    expect(t.gw.ocsp.cache.size).toBe(entries);
    expect(await readdir(t.dataDir)).toEqual(files);
    expect((await t.gw.storage.listAudit()).length).toBe(audit);
  });

  it('answers internalError, not an exception, when the database fails', async () => {
    const dataDir = await tempDir('ocsp-broken-');
    const broken = new OcspResponder({
      authorities: t.gw.authorities,
      storage: { getCertificate: () => Promise.reject(new Error('database is locked')) },
      dataDir,
      log,
    });
    try {
      expect(decodeResponse((await broken.respond(ocspRequest({ issuer: ca, serial: '01' }))).der)).toEqual({ status: 2, single: [] });
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

function nonceExt(): Uint8Array {
  return sequence(objectIdentifier('1.3.6.1.5.5.7.48.1.2'), octetString(octetString(randomBytes(8))));
}

