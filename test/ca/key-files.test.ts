import { toPem as certificatePem } from '../../src/pem.js';
import { createPublicKey, verify } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import {
  loadOrCreateCaMaterial,
  type CaMaterial,
} from '../../src/ca/key-files.js';
import { certificateInfo, verifyIssuedBy } from '../../src/x509/certificate-info.js';
import { openssl, tempDir, textBlockAfter } from './helpers.js';

const DAY = 24 * 60 * 60 * 1000;
const mode = (p: string): number => statSync(p).mode & 0o777;

describe('loadOrCreateCaMaterial (plain keys)', () => {
  const dir = tempDir();
  let first: CaMaterial;

  beforeAll(async () => {
    first = await loadOrCreateCaMaterial(dir.path, { organization: 'Acme Corp' });
  });
  afterAll(() => dir.cleanup());

  it('creates root and RA on first start with 0600 key files', () => {
    expect(first.created).toBe(true);
    expect(first.raReissued).toBe(true);
    for (const f of ['ca.key', 'ra.key']) expect(mode(join(dir.path, f))).toBe(0o600);
    for (const f of ['ca.pem', 'ra.pem']) expect(existsSync(join(dir.path, f))).toBe(true);
    const key = readFileSync(join(dir.path, 'ca.key'), 'utf8');
    expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/); // unencrypted PKCS#8
    // No temp files are left behind.
    expect(readdirSync(dir.path).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('reloads the same certificates without regenerating', async () => {
    const again = await loadOrCreateCaMaterial(dir.path, { organization: 'Acme Corp' });
    expect(again.created).toBe(false);
    expect(again.raReissued).toBe(false);
    expect(Buffer.from(again.root.certificate).equals(Buffer.from(first.root.certificate))).toBe(true);
    expect(Buffer.from(again.ra.certificate).equals(Buffer.from(first.ra.certificate))).toBe(true);
    // The files hold the returned certificates.
    expect(readFileSync(join(dir.path, 'ca.pem'), 'utf8')).toBe(certificatePem(first.root.certificate));
  });

  it('returns working signing keys that match the certificates', async () => {
    const data = new TextEncoder().encode('hello');
    for (const kc of [first.root, first.ra]) {
      const sig = await kc.key.sign(data, 'sha256');
      const pub = createPublicKey({ key: Buffer.from(certificateInfo(kc.certificate).spki), format: 'der', type: 'spki' });
      expect(verify('sha256', data, pub, sig)).toBe(true);
    }
    expect(typeof first.ra.key.decryptRaw).toBe('function');
  });

  it('root: RSA-3072, 10 years, CA:TRUE critical, keyCertSign+cRLSign+digitalSignature critical, SKI', () => {
    const text = openssl(['x509', '-in', join(dir.path, 'ca.pem'), '-noout', '-text']);
    expect(text).toContain('Public-Key: (3072 bit)');
    expect(text).toMatch(/Subject: CN = mdm-gateway Root CA, O = Acme Corp/);
    expect(text).toMatch(/Issuer: CN = mdm-gateway Root CA, O = Acme Corp/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(text).toContain('X509v3 Subject Key Identifier');
    const info = certificateInfo(first.root.certificate);
    const years = (info.notAfter.getTime() - info.notBefore.getTime()) / DAY / 365.25;
    expect(years).toBeGreaterThan(9.99);
    expect(years).toBeLessThan(10.01);
    openssl(['verify', '-CAfile', join(dir.path, 'ca.pem'), join(dir.path, 'ca.pem')]);
  });

  it('RA: RSA-2048, issued by the root, digitalSignature+keyEncipherment, CA:FALSE, AKI = root SKI', async () => {
    const text = openssl(['x509', '-in', join(dir.path, 'ra.pem'), '-noout', '-text']);
    const rootText = openssl(['x509', '-in', join(dir.path, 'ca.pem'), '-noout', '-text']);
    expect(text).toContain('Public-Key: (2048 bit)');
    expect(text).toMatch(/Subject: CN = mdm-gateway SCEP RA, O = Acme Corp/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    const aki = textBlockAfter(text, 'Authority Key Identifier').replace(/^keyid:/, '');
    expect(aki).toBe(textBlockAfter(rootText, 'Subject Key Identifier'));
    expect(openssl(['verify', '-CAfile', join(dir.path, 'ca.pem'), join(dir.path, 'ra.pem')])).toContain(': OK');
    expect(await verifyIssuedBy(first.ra.certificate, first.root.certificate)).toBe(true);
    const info = certificateInfo(first.ra.certificate);
    const days = (info.notAfter.getTime() - info.notBefore.getTime()) / DAY;
    expect(days).toBe(730);
  });

  it('re-issues an RA certificate that expires within 7 days (RA_SWITCH_BEFORE_DAYS) and keeps the previous pair', async () => {
    // Replace ra.pem with a certificate for the same RA key that expires in 5 days.
    const ca = new CertificateAuthority(first.root);
    const short = await ca.issue({
      subject: [{ type: 'CN', value: 'mdm-gateway SCEP RA' }],
      subjectAlternativeNames: [],
      extendedKeyUsages: [],
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      validityDays: 5,
      hashAlgorithm: 'SHA-256',
      spki: certificateInfo(first.ra.certificate).spki,
    });
    writeFileSync(join(dir.path, 'ra.pem'), certificatePem(short.der));
    const renewed = await loadOrCreateCaMaterial(dir.path, { organization: 'Acme Corp' });
    expect(renewed.created).toBe(false);
    expect(renewed.raReissued).toBe(true);
    const info = certificateInfo(renewed.ra.certificate);
    expect(info.serialNumber).not.toBe(short.serialNumber);
    expect(info.notAfter.getTime() - Date.now()).toBeGreaterThan(700 * DAY);
    // New key, too.
    expect(Buffer.from(info.spki).equals(Buffer.from(certificateInfo(short.der).spki))).toBe(false);
    expect(readFileSync(join(dir.path, 'ra.previous.pem'), 'utf8')).toBe(certificatePem(short.der));
    expect(mode(join(dir.path, 'ra.previous.key'))).toBe(0o600);
    expect(mode(join(dir.path, 'ra.key'))).toBe(0o600);
    // The root is untouched.
    expect(Buffer.from(renewed.root.certificate).equals(Buffer.from(first.root.certificate))).toBe(true);
    expect(openssl(['verify', '-CAfile', join(dir.path, 'ca.pem'), join(dir.path, 'ra.pem')])).toContain(': OK');
  });

  it('refuses to replace a CA whose certificate file is missing', async () => {
    const other = tempDir();
    try {
      await loadOrCreateCaMaterial(other.path, {});
      unlinkSync(join(other.path, 'ca.pem'));
      await expect(loadOrCreateCaMaterial(other.path, {})).rejects.toThrow(/ca\.pem is missing/);
      expect(existsSync(join(other.path, 'ca.pem'))).toBe(false);
    } finally {
      other.cleanup();
    }
  }, 30_000);
});

describe('loadOrCreateCaMaterial (passphrase-encrypted keys)', () => {
  const dir = tempDir();
  const passphrase = 'correct horse battery staple';
  let first: CaMaterial;

  beforeAll(async () => {
    first = await loadOrCreateCaMaterial(dir.path, { passphrase });
  });
  afterAll(() => dir.cleanup());

  it('writes encrypted PKCS#8 (aes-256-cbc) with mode 0600 and default organization', () => {
    expect(first.created).toBe(true);
    for (const f of ['ca.key', 'ra.key']) {
      const path = join(dir.path, f);
      expect(mode(path)).toBe(0o600);
      const pem = readFileSync(path, 'utf8');
      expect(pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
      expect(pem).not.toContain('BEGIN PRIVATE KEY');
      const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      const asn = openssl(['asn1parse', '-inform', 'DER'], { input: der });
      expect(asn).toContain('aes-256-cbc');
      // OpenSSL reads it with the passphrase.
      expect(openssl(['pkey', '-in', path, '-passin', `pass:${passphrase}`, '-noout', '-text_pub'])).toContain('Public-Key');
    }
    expect(openssl(['x509', '-in', join(dir.path, 'ca.pem'), '-noout', '-subject'])).toContain(
      'CN = mdm-gateway Root CA, O = mdm-gateway',
    );
  });

  it('reloads with the passphrase', async () => {
    const again = await loadOrCreateCaMaterial(dir.path, { passphrase });
    expect(again.created).toBe(false);
    expect(Buffer.from(again.root.certificate).equals(Buffer.from(first.root.certificate))).toBe(true);
    expect(Buffer.from(again.ra.certificate).equals(Buffer.from(first.ra.certificate))).toBe(true);
  });

  it('fails clearly without the passphrase, naming the file', async () => {
    await expect(loadOrCreateCaMaterial(dir.path, {})).rejects.toThrow(
      new RegExp(`${join(dir.path, 'ca.key').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is encrypted.*MDMGW_CA_PASSPHRASE`),
    );
  });

  it('fails clearly with a wrong passphrase, naming the file', async () => {
    await expect(loadOrCreateCaMaterial(dir.path, { passphrase: 'wrong' })).rejects.toThrow(
      /cannot decrypt .*ca\.key: wrong passphrase/,
    );
    // Nothing was regenerated or overwritten by the failed attempts.
    const again = await loadOrCreateCaMaterial(dir.path, { passphrase });
    expect(Buffer.from(again.root.certificate).equals(Buffer.from(first.root.certificate))).toBe(true);
    expect(again.raReissued).toBe(false);
  });
});
