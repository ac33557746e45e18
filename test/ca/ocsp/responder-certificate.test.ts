import { X509Certificate } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { loadOrCreateCaMaterial } from '../../../src/ca/key-files.js';
import {
  OID_KP_OCSP_SIGNING,
  OID_OCSP_NOCHECK,
  RESPONDER_VALIDITY_DAYS,
  ResponderCertificates,
  responderCertFile,
  responderKeyFile,
} from '../../../src/ca/ocsp/responder-certificate.js';
import { createLogger } from '../../../src/log.js';
import { readCertificate } from '../../../src/x509/cert-raw.js';
import { verifyIssuedBy } from '../../../src/x509/certificate-info.js';
import { tempDir } from '../../helpers/openssl.js';

// The delegated responder certificate (RFC 6960 4.2.2.2): what it says, where
// it is kept, and that it rotates by itself on use.

const DAY = 86_400_000;
const log = createLogger('silent');
let caDir: string;
let ca: CertificateAuthority;

beforeAll(async () => {
  caDir = await tempDir('ocsp-ca-');
  ca = new CertificateAuthority((await loadOrCreateCaMaterial(caDir)).root);
});
afterAll(async () => {
  await rm(caDir, { recursive: true, force: true });
});

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await tempDir('ocsp-responder-cert-');
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('OCSP responder certificate', () => {
  it('is issued by the CA for OCSP signing only: EKU OCSPSigning, ocsp-nocheck, keyUsage digitalSignature, no AIA/CDP, 30 days', async () => {
    await withDir(async (dataDir) => {
      const r = await new ResponderCertificates({ dataDir, log }).get(ca);
      expect(await verifyIssuedBy(r.certificate, ca.certificate)).toBe(true);
      const raw = readCertificate(r.certificate);
      const x = new X509Certificate(r.certificate);
      expect(x.ca).toBe(false);
      expect(x.keyUsage).toEqual([OID_KP_OCSP_SIGNING]);
      expect(raw.extensions.get(OID_OCSP_NOCHECK)).toEqual({ critical: false, value: Uint8Array.of(0x05, 0x00) });
      expect(raw.extensions.get('2.5.29.15')).toEqual({ critical: true, value: Uint8Array.of(0x03, 0x02, 0x07, 0x80) }); // digitalSignature only
      expect(raw.extensions.has('1.3.6.1.5.5.7.1.1')).toBe(false); // AIA
      expect(raw.extensions.has('2.5.29.31')).toBe(false); // CDP
      expect(r.notAfter.getTime() - r.notBefore.getTime()).toBe(RESPONDER_VALIDITY_DAYS * DAY);
      expect(x.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    });
  });

  it('is kept in ocsp-<caId>.key/.pem (0600, key encrypted with the CA passphrase) and reused after a restart', async () => {
    await withDir(async (dataDir) => {
      const passphrase = 'correct horse battery';
      const first = await new ResponderCertificates({ dataDir, log, passphrase }).get(ca);
      const keyFile = path.join(dataDir, responderKeyFile(ca.id));
      const certFile = path.join(dataDir, responderCertFile(ca.id));
      expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
      expect((await stat(certFile)).mode & 0o777).toBe(0o600);
      expect(await readFile(keyFile, 'utf8')).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
      const again = await new ResponderCertificates({ dataDir, log, passphrase }).get(ca);
      expect(Buffer.from(again.certificate).equals(Buffer.from(first.certificate))).toBe(true);
      await expect(new ResponderCertificates({ dataDir, log, passphrase: 'wrong passphrase' }).get(ca)).rejects.toThrow(/wrong passphrase/);
      await expect(new ResponderCertificates({ dataDir, log }).get(ca)).rejects.toThrow(/MDMGW_CA_PASSPHRASE/);
    });
  });

  it('rotates (new key and certificate) on use once less than a third of its life is left, not before', async () => {
    await withDir(async (dataDir) => {
      const clock = { now: new Date() };
      const responders = new ResponderCertificates({ dataDir, log, now: () => clock.now });
      const first = await responders.get(ca);
      clock.now = new Date(first.notAfter.getTime() - 10.5 * DAY); // more than a third (10 days) left
      expect(await responders.get(ca)).toBe(first);
      clock.now = new Date(first.notAfter.getTime() - 9.5 * DAY);
      const [a, b] = await Promise.all([responders.get(ca), responders.get(ca)]);
      expect(a).toBe(b); // one rotation for concurrent requests
      expect(a.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
      expect(Buffer.from(a.keyHash).equals(Buffer.from(first.keyHash))).toBe(false);
      // The files hold the new pair: a restart picks it up.
      const reloaded = await new ResponderCertificates({ dataDir, log, now: () => clock.now }).get(ca);
      expect(Buffer.from(reloaded.certificate).equals(Buffer.from(a.certificate))).toBe(true);
    });
  });

  it('replaces a pair that does not belong together or was not issued by this CA', async () => {
    await withDir(async (dataDir) => {
      const first = await new ResponderCertificates({ dataDir, log }).get(ca);
      const otherDir = await tempDir('ocsp-other-');
      try {
        const other = new CertificateAuthority((await loadOrCreateCaMaterial(otherDir)).root);
        const foreign = await new ResponderCertificates({ dataDir: otherDir, log }).get(other);
        // Someone put another CA's responder certificate under this CA's name.
        await writeFile(path.join(dataDir, responderCertFile(ca.id)), new X509Certificate(foreign.certificate).toString());
        const replaced = await new ResponderCertificates({ dataDir, log }).get(ca);
        expect(await verifyIssuedBy(replaced.certificate, ca.certificate)).toBe(true);
        expect(Buffer.from(replaced.certificate).equals(Buffer.from(first.certificate))).toBe(false);
      } finally {
        await rm(otherDir, { recursive: true, force: true });
      }
    });
  });
});
