import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { loadOrCreateCaMaterial, RA_RENEW_BEFORE_DAYS, RA_SWITCH_BEFORE_DAYS, type CaMaterial } from '../../src/ca/key-files.js';
import { RaKeeper, type RaKeys } from '../../src/ca/ra-renewal.js';
import { toPem } from '../../src/pem.js';
import { readCertsOnly } from '../../src/scep/codec/index.js';
import { NEXT_CA_CAPABILITY, ScepService, type ScepBackend } from '../../src/scep/service.js';
import { certificateInfo, verifyIssuedBy } from '../../src/x509/certificate-info.js';
import { openssl, opensslBuffer, tempDir } from './helpers.js';

// The SCEP RA is renewed while the gateway serves (lifecycle issue #9, item 4):
// checked on every request against an injected clock, no restart, no sleeping.

const DAY = 86_400_000;
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const noBackend: ScepBackend = {
  enroll: () => Promise.reject(new Error('not used')),
  poll: () => Promise.reject(new Error('not used')),
  certificate: () => Promise.resolve(null),
};

describe('RaKeeper (RA renewal while serving)', () => {
  const dir = tempDir('mdmgw-ra-renew-');
  let material: CaMaterial;
  let clock: Date;
  let keeper: RaKeeper;
  let scep: ScepService;
  let raEnd: number;
  const events: string[] = [];

  beforeAll(async () => {
    const created = await loadOrCreateCaMaterial(dir.path, {});
    // An RA with 40 days left (same key): what a gateway running for ~2 years holds.
    const short = await new CertificateAuthority(created.root).issue({
      subject: [{ type: 'CN', value: 'mdm-gateway SCEP RA' }],
      subjectAlternativeNames: [],
      extendedKeyUsages: [],
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      validityDays: 40,
      hashAlgorithm: 'SHA-256',
      spki: certificateInfo(created.ra.certificate).spki,
    });
    writeFileSync(join(dir.path, 'ra.pem'), toPem(short.der));
    material = await loadOrCreateCaMaterial(dir.path, {});
    expect(material.raReissued).toBe(false);
    raEnd = certificateInfo(material.ra.certificate).notAfter.getTime();
    clock = new Date();
    keeper = new RaKeeper(
      { dataDir: dir.path, root: material.root, now: () => clock, onEvent: (e) => events.push(e) },
      { ra: material.ra, previousRa: material.previousRa, nextRa: material.nextRa },
    );
    scep = new ScepService(keeper, material.root, noBackend, { step: () => undefined });
  });
  afterAll(() => dir.cleanup());

  it('does nothing while the RA has more than RA_RENEW_BEFORE_DAYS left: no next RA, GetNextCACert not offered', async () => {
    clock = new Date(raEnd - (RA_RENEW_BEFORE_DAYS + 1) * DAY);
    const k = await keeper.keys();
    expect(same(k.ra.certificate, material.ra.certificate)).toBe(true);
    expect(k.nextRa).toBeNull();
    expect(existsSync(join(dir.path, 'ra.next.pem'))).toBe(false);
    expect((await scep.caCaps()).split('\n')).not.toContain(NEXT_CA_CAPABILITY);
    expect(await scep.nextCaCert()).toBeNull();
  });

  it('inside RA_RENEW_BEFORE_DAYS creates exactly one next RA for concurrent requests and advertises it', async () => {
    clock = new Date(raEnd - (RA_RENEW_BEFORE_DAYS - 1) * DAY);
    const all: RaKeys[] = await Promise.all(Array.from({ length: 8 }, () => keeper.keys()));
    const next = all[0]!.nextRa!;
    expect(next).not.toBeNull();
    for (const k of all) {
      expect(same(k.nextRa!.certificate, next.certificate)).toBe(true);
      expect(same(k.ra.certificate, material.ra.certificate)).toBe(true); // not switched yet
    }
    expect(events.filter((e) => e === 'next-ra-created')).toHaveLength(1);
    expect(readFileSync(join(dir.path, 'ra.next.pem'), 'utf8')).toBe(toPem(next.certificate));
    // A new key, issued by the CA, outliving the current RA.
    expect(same(certificateInfo(next.certificate).spki, certificateInfo(material.ra.certificate).spki)).toBe(false);
    expect(await verifyIssuedBy(next.certificate, material.root.certificate)).toBe(true);
    expect(certificateInfo(next.certificate).notAfter.getTime()).toBeGreaterThan(raEnd);
    expect((await scep.caCaps()).split('\n')).toContain(NEXT_CA_CAPABILITY);
  });

  it('GetNextCACert: SignedData signed by the current CA around a certs-only message with the next RA (OpenSSL verifies it)', async () => {
    const body = (await scep.nextCaCert())!;
    const k = keeper.peek();
    writeFileSync(join(dir.path, 'next.der'), body);
    const inner = opensslBuffer(['cms', '-verify', '-inform', 'DER', '-in', 'next.der', '-CAfile', 'ca.pem', '-purpose', 'any'], { cwd: dir.path });
    const certs = readCertsOnly(new Uint8Array(inner));
    expect(same(certs[0]!, k.nextRa!.certificate)).toBe(true);
    expect(same(certs[1]!, material.root.certificate)).toBe(true);
    // The signer is the CA itself, not the RA.
    const signer = openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', 'next.der'], { cwd: dir.path });
    expect(signer).toMatch(/issuer: CN=mdm-gateway Root CA/);
  });

  it('inside RA_SWITCH_BEFORE_DAYS the next RA takes over, the replaced one stays for in-flight requests', async () => {
    const next = keeper.peek().nextRa!;
    clock = new Date(raEnd - (RA_SWITCH_BEFORE_DAYS - 1) * DAY);
    const k = await keeper.keys();
    expect(same(k.ra.certificate, next.certificate)).toBe(true);
    expect(same(k.previousRa!.certificate, material.ra.certificate)).toBe(true);
    expect(k.nextRa).toBeNull();
    expect(readFileSync(join(dir.path, 'ra.pem'), 'utf8')).toBe(toPem(next.certificate));
    expect(readFileSync(join(dir.path, 'ra.previous.pem'), 'utf8')).toBe(toPem(material.ra.certificate));
    expect(existsSync(join(dir.path, 'ra.next.pem'))).toBe(false);
    expect((await scep.caCaps()).split('\n')).not.toContain(NEXT_CA_CAPABILITY);
    // GetCACert now hands out the new RA.
    expect(same(readCertsOnly(await scep.caCert())[0]!, next.certificate)).toBe(true);
    // A restart reads the same state from the files.
    const reloaded = await loadOrCreateCaMaterial(dir.path, {});
    expect(reloaded.raReissued).toBe(false);
    expect(same(reloaded.ra.certificate, next.certificate)).toBe(true);
    expect(same(reloaded.previousRa!.certificate, material.ra.certificate)).toBe(true);
  });
});
