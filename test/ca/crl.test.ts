import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { authoritiesOf, singleAuthority } from '../../src/ca/authorities.js';
import { CertificateAuthority, type IssueSpec } from '../../src/ca/authority.js';
import { buildCrl } from '../../src/ca/crl.js';
import { CrlPublisher } from '../../src/ca/crl-publisher.js';
import { loadOrCreateCaMaterial, type CaMaterial } from '../../src/ca/key-files.js';
import { publicationFor } from '../../src/ca/publication.js';
import type { Storage } from '../../src/core/storage/storage.js';
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';
import { toPem } from '../../src/pem.js';
import { fromHex } from '../../src/x509/asn1/bytes.js';
import { openssl, opensslOutput, tempDir } from './helpers.js';

// The CRL builder and publisher against the real OpenSSL CLI, a real CA key
// and real SQLite storage.

const HOUR = 3600_000;

function spec(): IssueSpec {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    subject: [{ type: 'CN', value: 'phone-1' }],
    subjectAlternativeNames: [],
    extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'],
    keyUsage: ['digitalSignature'],
    validityDays: 30,
    hashAlgorithm: 'SHA-256',
    spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
  };
}

/** Records an issued certificate the way enrollment does, so storage knows its issuer. */
async function record(storage: Storage, ca: CertificateAuthority): Promise<string> {
  const c = await ca.issue(spec());
  const tx = `tx-${c.serialNumber}`;
  const ok = await storage.recordEnrollment(
    null,
    {
      transactionId: tx,
      status: 'issued',
      kind: 'profile',
      challengeId: null,
      profileId: null,
      profileVersion: null,
      deviceId: null,
      userId: null,
      csrSha256: c.sha256,
      csrDer: new Uint8Array([0x30, 0x00]),
      resolved: null,
    },
    {
      serialNumber: c.serialNumber,
      kind: 'profile',
      subject: c.subject,
      notBefore: c.notBefore.toISOString(),
      notAfter: c.notAfter.toISOString(),
      thumbprint: c.thumbprint,
      sha256: c.sha256,
      transactionId: tx,
      profileId: null,
      profileVersion: null,
      deviceId: null,
      userId: null,
      der: c.der,
      issuerId: c.issuerId,
    },
  );
  expect(ok).toEqual({ ok: true });
  return c.serialNumber;
}

describe('CRL', () => {
  const dir = tempDir('mdmgw-crl-');
  let material: CaMaterial;
  let other: CaMaterial;
  let ca: CertificateAuthority;
  const file = (name: string, bytes: Uint8Array | string): string => {
    const p = join(dir.path, name);
    writeFileSync(p, bytes);
    return p;
  };
  const caPem = (): string => join(dir.path, 'ca', 'ca.pem');
  /** `openssl crl -verify -text` output; fails the test unless the signature verifies against `ca` (stdout + stderr: OpenSSL prints the verdict on stderr). */
  const crlText = (der: Uint8Array, name = 'crl.der', ca = caPem()): string => {
    const out = opensslOutput(['crl', '-inform', 'DER', '-in', file(name, der), '-CAfile', ca, '-noout', '-verify', '-text']);
    expect(out).toMatch(/^verify OK$/m);
    return out;
  };

  beforeAll(async () => {
    material = await loadOrCreateCaMaterial(join(dir.path, 'ca'), { organization: 'Contoso' });
    other = await loadOrCreateCaMaterial(join(dir.path, 'other'), { organization: 'Fabrikam' });
    ca = new CertificateAuthority(material.root, { publication: publicationFor('https://mdm.example.com') });
  });
  afterAll(() => dir.cleanup());

  describe('buildCrl', () => {
    it('writes a v2 CRL OpenSSL verifies against the CA, with CRL Number, AKI, times and reason codes', async () => {
      const thisUpdate = new Date('2026-12-01T10:00:00Z');
      const der = await buildCrl({
        issuerName: ca.name,
        authorityKeyId: fromHex(ca.id),
        crlNumber: 4242,
        thisUpdate,
        nextUpdate: new Date(thisUpdate.getTime() + 24 * HOUR),
        entries: [
          { serialNumber: '0a1b', revokedAt: new Date('2026-11-30T08:00:00Z'), reason: 'keyCompromise' },
          { serialNumber: '7f', revokedAt: new Date('2026-11-30T09:00:00Z'), reason: 'unspecified' },
          { serialNumber: 'abc', revokedAt: new Date('2026-11-30T09:30:00Z'), reason: 'privilegeWithdrawn' },
        ],
        signer: material.root.key,
      });
      const text = crlText(der);
      expect(text).toContain('Version 2 (0x1)');
      expect(text).toContain('Issuer: CN = mdm-gateway Root CA, O = Contoso');
      expect(text).toContain('Last Update: Dec  1 10:00:00 2026 GMT');
      expect(text).toContain('Next Update: Dec  2 10:00:00 2026 GMT');
      expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*4242\n/);
      const aki = ca.id.toUpperCase().match(/../g)!.join(':');
      expect(text).toMatch(new RegExp(`X509v3 Authority Key Identifier:\\s*\\n\\s*(keyid:)?${aki}\\n`));
      expect(text).toMatch(/Serial Number: 0A1B\n\s+Revocation Date: Nov 30 08:00:00 2026 GMT\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code:\s*\n\s+Key Compromise/);
      // unspecified: no reason code extension (RFC 5280 5.3.1)
      expect(text).toMatch(/Serial Number: 7F\n\s+Revocation Date: Nov 30 09:00:00 2026 GMT\n\s+Serial Number: 0ABC/);
      expect(text).toMatch(/Serial Number: 0ABC\n[^\n]+\n[^\n]+\n[^\n]+\n\s+Privilege Withdrawn/);
      expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    });

    it('omits revokedCertificates when nothing is revoked; another CA key does not verify it', async () => {
      const der = await buildCrl({
        issuerName: ca.name,
        authorityKeyId: fromHex(ca.id),
        crlNumber: 1,
        thisUpdate: new Date(),
        nextUpdate: new Date(Date.now() + HOUR),
        entries: [],
        signer: other.root.key,
      });
      const out = opensslOutput(['crl', '-inform', 'DER', '-in', file('forged.der', der), '-CAfile', caPem(), '-noout', '-verify', '-text']);
      expect(out).toContain('No Revoked Certificates');
      expect(out).toContain('verify failure');
      expect(out).not.toContain('verify OK');
    });

    it('refuses a CRL Number that is not a safe integer and a nextUpdate not after thisUpdate', async () => {
      const base = { issuerName: ca.name, authorityKeyId: fromHex(ca.id), entries: [], signer: material.root.key };
      const now = new Date();
      await expect(buildCrl({ ...base, crlNumber: -1, thisUpdate: now, nextUpdate: new Date(now.getTime() + HOUR) })).rejects.toThrow(/CRL Number/);
      await expect(buildCrl({ ...base, crlNumber: 1, thisUpdate: now, nextUpdate: now })).rejects.toThrow(/nextUpdate/);
    });
  });

  describe('CDP and AIA in issued certificates', () => {
    it('points every certificate at its CA\'s CRL, certificate and the OCSP responder', async () => {
      const c = await ca.issue(spec());
      const leaf = file('leaf.pem', toPem(c.der));
      expect(openssl(['verify', '-CAfile', caPem(), leaf]).trim()).toBe(`${leaf}: OK`);
      const text = openssl(['x509', '-in', leaf, '-noout', '-text']);
      expect(text).toMatch(new RegExp(`X509v3 CRL Distribution Points:\\s*\\n\\s*Full Name:\\s*\\n\\s*URI:https://mdm.example.com/pki/crl/${ca.id}.crl\\n`));
      expect(text).toMatch(/Authority Information Access:\s*\n\s*OCSP - URI:https:\/\/mdm.example.com\/ocsp\n/);
      expect(text).toContain(`CA Issuers - URI:https://mdm.example.com/pki/ca/${ca.id}.cer`);
      expect(openssl(['x509', '-in', leaf, '-noout', '-ocsp_uri']).trim()).toBe('https://mdm.example.com/ocsp');
    });

    it('follows MDMGW_CRL_URL / MDMGW_OCSP_URL overrides, and omits both for the OCSP responder\'s own certificate', async () => {
      const overridden = new CertificateAuthority(material.root, {
        publication: publicationFor('https://mdm.example.com/', { crlUrl: 'http://pki.corp.example/crl/', ocspUrl: 'http://ocsp.corp.example/' }),
      });
      const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], { input: (await overridden.issue(spec())).der });
      expect(text).toContain(`URI:http://pki.corp.example/crl/${ca.id}.crl`);
      expect(text).toContain('OCSP - URI:http://ocsp.corp.example/');
      expect(text).toContain(`CA Issuers - URI:https://mdm.example.com/pki/ca/${ca.id}.cer`);

      const responder = openssl(['x509', '-inform', 'DER', '-noout', '-text'], { input: (await overridden.issue({ ...spec(), omitRevocationInfo: true })).der });
      expect(responder).not.toContain('CRL Distribution Points');
      expect(responder).not.toContain('Authority Information Access');
      const bare = openssl(['x509', '-inform', 'DER', '-noout', '-text'], { input: (await new CertificateAuthority(material.root).issue(spec())).der });
      expect(bare).not.toContain('CRL Distribution Points');
    });
  });

  describe('CrlPublisher', () => {
    let storage: Storage;
    let clock: Date;
    const publisher = (validityHours = 24, cas = [ca]) =>
      new CrlPublisher({ source: storage, authorities: authoritiesOf(cas), validityHours, now: () => clock });

    beforeEach(async () => {
      storage = await openSqliteStorage(':memory:');
      clock = new Date('2026-12-01T10:00:00.400Z');
    });
    afterEach(async () => {
      await storage.close();
    });

    it('serves one signed CRL while nothing changes, and a new one at once after any revocation', async () => {
      const p = publisher();
      const [a, b] = [await record(storage, ca), await record(storage, ca)];
      const first = (await p.current(ca.id))!;
      expect(first.crlNumber).toBe(1);
      expect(first.thisUpdate.toISOString()).toBe('2026-12-01T10:00:00.000Z');
      expect(first.nextUpdate.toISOString()).toBe('2026-12-02T10:00:00.000Z');
      expect(first.refreshAt.toISOString()).toBe('2026-12-01T22:00:00.000Z');
      expect(crlText(first.der)).toContain('No Revoked Certificates');
      clock = new Date(clock.getTime() + HOUR);
      expect((await p.current(ca.id))!.der).toBe(first.der);

      // Revoked straight in storage (as any code path or another instance would): no event reaches the publisher.
      await storage.revokeCertificateChain(a, clock.toISOString(), 'keyCompromise');
      const second = (await p.current(ca.id))!;
      expect(second.crlNumber).toBe(2);
      const text = crlText(second.der, 'second.der');
      expect(text).toContain(`Serial Number: ${a.toUpperCase()}`);
      expect(text).toContain('Key Compromise');
      expect(text).not.toContain(b.toUpperCase());
      expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*2\n/);
    });

    it('re-signs a CRL that reached its refresh time (half the validity) though nothing changed', async () => {
      const p = publisher(2);
      const first = (await p.current(ca.id))!;
      expect(first.refreshAt.getTime() - first.thisUpdate.getTime()).toBe(HOUR);
      clock = new Date(first.refreshAt.getTime() - 1000);
      expect((await p.current(ca.id))!.crlNumber).toBe(1);
      clock = first.refreshAt;
      const second = (await p.current(ca.id))!;
      expect(second.crlNumber).toBe(2);
      expect(second.thisUpdate.getTime()).toBe(first.refreshAt.getTime());
      expect(second.nextUpdate.getTime()).toBeGreaterThan(first.nextUpdate.getTime());
    });

    it('never reuses or lowers a CRL Number across restarts (a new publisher on the same database)', async () => {
      expect((await publisher().current(ca.id))!.crlNumber).toBe(1);
      expect((await publisher().current(ca.id))!.crlNumber).toBe(2);
      const text = crlText((await publisher().current(ca.id))!.der);
      expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*3\n/);
    });

    it('concurrent requests share one signature and one CRL Number', async () => {
      const p = publisher();
      const all = await Promise.all(Array.from({ length: 6 }, () => p.current(ca.id)));
      expect(new Set(all.map((c) => c!.crlNumber))).toEqual(new Set([1]));
    });

    it('serves a CRL per CA listing only what that CA signed; unknown CA ids get null', async () => {
      const retired = new CertificateAuthority(other.root);
      const p = publisher(24, [ca, retired]);
      const mine = await record(storage, ca);
      const theirs = await record(storage, retired);
      await storage.revokeCertificateChain(mine, clock.toISOString(), 'superseded');
      await storage.revokeCertificateChain(theirs, clock.toISOString(), 'cessationOfOperation');

      const current = crlText((await p.current(ca.id))!.der, 'current.der');
      expect(current).toContain(mine.toUpperCase());
      expect(current).not.toContain(theirs.toUpperCase());
      const otherPem = file('other.pem', toPem(other.root.certificate));
      const old = crlText((await p.current(retired.id))!.der, 'retired.der', otherPem);
      expect(old).toContain('Issuer: CN = mdm-gateway Root CA, O = Fabrikam');
      expect(old).toContain(theirs.toUpperCase());
      expect(old).toContain('Cessation Of Operation');
      expect(old).not.toContain(mine.toUpperCase());

      expect(await p.current('00ff')).toBeNull();
      expect(await p.current(ca.id.toUpperCase())).not.toBeNull();
      expect((await p.forIssuerAndSerial(retired.name, theirs))!.caId).toBe(retired.id);
      expect(await p.forIssuerAndSerial(Uint8Array.of(0x30, 0x00), theirs)).toBeNull();
    });

    it('GetCRL by issuer and serial picks the CA that signed the serial when two CAs share a name', async () => {
      // A rollover that kept the subject name: same Name, another key.
      const renamed = await loadOrCreateCaMaterial(join(dir.path, 'same-name'), { organization: 'Contoso' });
      const next = new CertificateAuthority(renamed.root);
      expect(Buffer.from(next.name).equals(Buffer.from(ca.name))).toBe(true);
      const p = publisher(24, [next, ca]);
      const old = await record(storage, ca);
      expect((await p.forIssuerAndSerial(ca.name, old))!.caId).toBe(ca.id);
      expect((await p.forIssuerAndSerial(ca.name, '0123'))!.caId).toBe(next.id);
      expect(singleAuthority(ca).all).toHaveLength(1);
    });
  });
});
