import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SanEntry } from '../../src/core/model.js';
import { CertificateAuthority, type IssueSpec } from '../../src/ca/authority.js';
import { loadOrCreateCaMaterial, type CaMaterial } from '../../src/ca/key-files.js';
import { toPem as certificatePem } from '../../src/pem.js';
import { certificateInfo, verifyIssuedBy } from '../../src/x509/certificate-info.js';
import { encodeName } from '../../src/x509/names.js';
import { randomSerialNumber } from '../../src/ca/serial.js';
import {
  basicConstraints,
  buildCertificate,
  keyIdentifierFor,
  keyUsage,
  subjectKeyIdentifier,
} from '../../src/ca/certificate-builder.js';
import { softwareKey } from '../../src/x509/software-key.js';
import { openssl, tempDir, textBlockAfter } from './helpers.js';

const DAY = 24 * 60 * 60 * 1000;

function spkiOf(type: 'rsa' | 'ec'): Uint8Array {
  const { publicKey } =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
}

const SANS: SanEntry[] = [
  { type: 'upn', value: 'user@contoso.com' },
  { type: 'email', value: 'user@contoso.com' },
  { type: 'dns', value: 'laptop-1.contoso.com' },
  { type: 'uri', value: 'urn:uuid:3f1c2a6e-0d4b-4b8e-9a57-1b2c3d4e5f60' },
];

function baseSpec(spki: Uint8Array): IssueSpec {
  return {
    subject: [
      { type: 'CN', value: 'laptop-1' },
      { type: 'OU', value: 'MDM' },
      { type: 'O', value: 'Contoso, Ltd' },
      { type: 'C', value: 'US' },
      { type: 'SERIALNUMBER', value: 'C02XK0ABJGH5' },
      { type: 'E', value: 'user@contoso.com' },
    ],
    subjectAlternativeNames: SANS,
    extendedKeyUsages: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.4.1.311.20.2.2'],
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    validityDays: 365,
    hashAlgorithm: 'SHA-256',
    spki,
  };
}

describe('CertificateAuthority', () => {
  const dir = tempDir();
  let material: CaMaterial;
  let ca: CertificateAuthority;
  const caPem = (): string => join(dir.path, 'ca.pem');
  const write = (name: string, der: Uint8Array): string => {
    const p = join(dir.path, name);
    writeFileSync(p, certificatePem(der));
    return p;
  };

  beforeAll(async () => {
    material = await loadOrCreateCaMaterial(dir.path, { organization: 'Contoso' });
    ca = new CertificateAuthority(material.root);
  });
  afterAll(() => dir.cleanup());

  it('exposes the root certificate', () => {
    expect(Buffer.from(ca.certificate).equals(Buffer.from(material.root.certificate))).toBe(true);
  });

  it('issues a certificate that openssl verifies against ca.pem, with every requested field', async () => {
    const spec = baseSpec(spkiOf('rsa')); // key generation stays outside the timed window
    const before = Date.now();
    const cert = await ca.issue(spec);
    const after = Date.now();
    const leaf = write('leaf.pem', cert.der);
    expect(openssl(['verify', '-CAfile', caPem(), leaf]).trim()).toBe(`${leaf}: OK`);

    const text = openssl(['x509', '-in', leaf, '-noout', '-text']);
    expect(text).toContain(
      'Subject: CN = laptop-1, OU = MDM, O = "Contoso, Ltd", C = US, serialNumber = C02XK0ABJGH5, emailAddress = user@contoso.com',
    );
    expect(text).toContain('Issuer: CN = mdm-gateway Root CA, O = Contoso');
    expect(textBlockAfter(text, 'X509v3 Subject Alternative Name')).toBe(
      'othername: UPN::user@contoso.com, email:user@contoso.com, DNS:laptop-1.contoso.com, URI:urn:uuid:3f1c2a6e-0d4b-4b8e-9a57-1b2c3d4e5f60',
    );
    expect(textBlockAfter(text, 'X509v3 Extended Key Usage')).toBe(
      'TLS Web Client Authentication, Microsoft Smartcard Login',
    );
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    const rootText = openssl(['x509', '-in', caPem(), '-noout', '-text']);
    expect(textBlockAfter(text, 'Authority Key Identifier').replace(/^keyid:/, '')).toBe(
      textBlockAfter(rootText, 'Subject Key Identifier'),
    );
    // SKI = SHA-1 of the subject public key bits (what `openssl x509 -pubkey` + sha1 of the BIT STRING gives).
    const ski = textBlockAfter(text, 'X509v3 Subject Key Identifier');
    expect(ski).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(ski).not.toBe(textBlockAfter(rootText, 'Subject Key Identifier'));

    // Returned metadata agrees with OpenSSL.
    const serial = openssl(['x509', '-in', leaf, '-noout', '-serial']).trim().replace(/^serial=/, '');
    expect(serial.toLowerCase()).toBe(cert.serialNumber);
    const sha1 = openssl(['x509', '-in', leaf, '-noout', '-fingerprint', '-sha1']).trim().split('=')[1]!;
    expect(sha1.replace(/:/g, '')).toBe(cert.thumbprint);
    const sha256 = openssl(['x509', '-in', leaf, '-noout', '-fingerprint', '-sha256']).trim().split('=')[1]!;
    expect(sha256.replace(/:/g, '').toLowerCase()).toBe(cert.sha256);
    expect(cert.subject).toBe(
      'CN=laptop-1,OU=MDM,O=Contoso\\, Ltd,C=US,SERIALNUMBER=C02XK0ABJGH5,E=user@contoso.com',
    );

    // notBefore = the issuing moment - 5 minutes (whole seconds), notAfter = notBefore + 365 days.
    // Bracketed by the clock before and after issue(), so a loaded machine cannot make it flaky.
    expect(cert.notBefore.getTime()).toBeGreaterThanOrEqual(before - 5 * 60 * 1000 - 1000);
    expect(cert.notBefore.getTime()).toBeLessThanOrEqual(after - 5 * 60 * 1000);
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBe(365 * DAY);
    const info = certificateInfo(cert.der);
    expect(info.notBefore.getTime()).toBe(cert.notBefore.getTime());
    expect(info.notAfter.getTime()).toBe(cert.notAfter.getTime());
    expect(info.serialNumber).toBe(cert.serialNumber);
  });

  it('encodes RDN values as UTF8String except C and SERIALNUMBER (PrintableString) and E (IA5String)', async () => {
    const cert = await ca.issue(baseSpec(spkiOf('rsa')));
    const asn = openssl(['asn1parse', '-inform', 'DER'], { input: cert.der });
    const subjectPart = asn.slice(asn.indexOf(':laptop-1') - 200);
    expect(subjectPart).toMatch(/UTF8STRING\s+:laptop-1/);
    expect(subjectPart).toMatch(/UTF8STRING\s+:MDM/);
    expect(subjectPart).toMatch(/PRINTABLESTRING\s+:US/);
    expect(subjectPart).toMatch(/PRINTABLESTRING\s+:C02XK0ABJGH5/);
    expect(subjectPart).toMatch(/IA5STRING\s+:user@contoso.com/);
  });

  it('keeps the given RDN order and accepts DC, UID and dotted OIDs', async () => {
    const cert = await ca.issue({
      ...baseSpec(spkiOf('rsa')),
      subject: [
        { type: 'DC', value: 'com' },
        { type: 'DC', value: 'contoso' },
        { type: 'UID', value: 'jdoe' },
        { type: '2.5.4.4', value: 'Doe' },
        { type: 'CN', value: 'Jane Doe' },
      ],
    });
    const subj = openssl(['x509', '-inform', 'DER', '-noout', '-subject'], { input: cert.der }).trim();
    expect(subj).toBe('subject=DC = com, DC = contoso, UID = jdoe, SN = Doe, CN = Jane Doe');
    expect(certificateInfo(cert.der).subject).toEqual([
      { type: 'DC', value: 'com' },
      { type: 'DC', value: 'contoso' },
      { type: 'UID', value: 'jdoe' },
      { type: '2.5.4.4', value: 'Doe' },
      { type: 'CN', value: 'Jane Doe' },
    ]);
  });

  it('omits SAN, EKU and KU when empty but always has basicConstraints, AKI and SKI', async () => {
    const cert = await ca.issue({
      ...baseSpec(spkiOf('ec')),
      subjectAlternativeNames: [],
      extendedKeyUsages: [],
      keyUsage: [],
    });
    const leaf = write('bare.pem', cert.der);
    expect(openssl(['verify', '-CAfile', caPem(), leaf])).toContain(': OK');
    const text = openssl(['x509', '-in', leaf, '-noout', '-text']);
    expect(text).not.toContain('Subject Alternative Name');
    expect(text).not.toContain('Extended Key Usage');
    expect(text).not.toContain('X509v3 Key Usage');
    expect(text).toContain('CA:FALSE');
    expect(text).toContain('Authority Key Identifier');
    expect(text).toContain('Subject Key Identifier');
    expect(text).toContain('id-ecPublicKey');
  });

  it('signs with the profile hash (SHA-1 and SHA-384 too)', async () => {
    for (const [hash, name] of [
      ['SHA-1', 'sha1WithRSAEncryption'],
      ['SHA-384', 'sha384WithRSAEncryption'],
    ] as const) {
      const cert = await ca.issue({ ...baseSpec(spkiOf('rsa')), hashAlgorithm: hash });
      const text = openssl(['x509', '-inform', 'DER', '-noout', '-text'], { input: cert.der });
      expect(text).toContain(`Signature Algorithm: ${name}`);
      expect(await verifyIssuedBy(cert.der, ca.certificate)).toBe(true);
    }
  });

  it('never issues beyond the root notAfter and honours an explicit notBefore', async () => {
    const long = await ca.issue({ ...baseSpec(spkiOf('rsa')), validityDays: 100 * 365 });
    const root = certificateInfo(ca.certificate);
    expect(long.notAfter.getTime()).toBe(root.notAfter.getTime());
    const nb = new Date('2027-01-01T00:00:00.000Z');
    const fixed = await ca.issue({ ...baseSpec(spkiOf('rsa')), validityDays: 30, notBefore: nb });
    expect(fixed.notBefore.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(fixed.notAfter.toISOString()).toBe('2027-01-31T00:00:00.000Z');
  });

  it('refuses specs it cannot encode', async () => {
    const spki = spkiOf('rsa');
    await expect(ca.issue({ ...baseSpec(spki), validityDays: 0 })).rejects.toThrow(/validityDays/);
    await expect(ca.issue({ ...baseSpec(spki), subject: [{ type: 'C', value: 'USA' }] })).rejects.toThrow(/two letters/);
    await expect(ca.issue({ ...baseSpec(spki), subject: [{ type: 'FOO', value: 'x' }] })).rejects.toThrow(/unsupported RDN/);
    await expect(
      ca.issue({ ...baseSpec(spki), subjectAlternativeNames: [{ type: 'dns', value: 'bücher.example' }] }),
    ).rejects.toThrow(/IA5String/);
    await expect(ca.issue({ ...baseSpec(spki), spki: new Uint8Array([1, 2, 3]) })).rejects.toThrow();
  });

  it('verifyIssuedBy: true for the root, false for another issuer or a tampered certificate', async () => {
    const cert = await ca.issue(baseSpec(spkiOf('rsa')));
    expect(await verifyIssuedBy(cert.der, ca.certificate)).toBe(true);
    expect(await verifyIssuedBy(cert.der, material.ra.certificate)).toBe(false);
    const tampered = new Uint8Array(cert.der);
    const at = Buffer.from(tampered).indexOf('laptop-1');
    tampered[at + 7] = '2'.charCodeAt(0);
    expect(await verifyIssuedBy(tampered, ca.certificate)).toBe(false);
    expect(await verifyIssuedBy(new Uint8Array([0x30, 0x00]), ca.certificate)).toBe(false);
  });

  it('uses the CA key only through PrivateKeyOps', async () => {
    const calls: string[] = [];
    const spy = new CertificateAuthority({
      certificate: material.root.certificate,
      key: {
        algorithm: 'RSA',
        sign: async (data, hash) => {
          calls.push(hash);
          return material.root.key.sign(data, hash);
        },
      },
    });
    const cert = await spy.issue({ ...baseSpec(spkiOf('rsa')), hashAlgorithm: 'SHA-512' });
    expect(calls).toEqual(['sha512']);
    expect(await verifyIssuedBy(cert.der, ca.certificate)).toBe(true);
  });
});

describe('verifyIssuedBy with a foreign key', () => {
  it('is false when the signature was made by another key with the same issuer name', async () => {
    const dir = tempDir();
    try {
      const a = await loadOrCreateCaMaterial(join(dir.path, 'a'), {});
      const b = await loadOrCreateCaMaterial(join(dir.path, 'b'), {});
      const cert = await new CertificateAuthority(a.root).issue(baseSpec(spkiOf('rsa')));
      // Same subject DN ("mdm-gateway Root CA, O=mdm-gateway"), different key.
      expect(await verifyIssuedBy(cert.der, b.root.certificate)).toBe(false);
      expect(await verifyIssuedBy(cert.der, a.root.certificate)).toBe(true);
    } finally {
      dir.cleanup();
    }
  }, 30_000);
});

describe('CertificateAuthority with an EC root (PrivateKeyOps returning DER ECDSA signatures)', () => {
  it('issues certificates OpenSSL verifies, signed ecdsa-with-SHA256', async () => {
    const dir = tempDir();
    try {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
      const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
      const name = encodeName([{ type: 'CN', value: 'EC Test Root' }]);
      const rootDer = await buildCertificate({
        serialNumber: randomSerialNumber(),
        issuerName: name,
        subjectName: name,
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 365 * DAY),
        spki,
        extensions: [basicConstraints(true), keyUsage(['keyCertSign', 'cRLSign']), subjectKeyIdentifier(keyIdentifierFor(spki))],
        hash: 'sha384',
        signer: softwareKey(privateKey),
      });
      const ecCa = new CertificateAuthority({ certificate: rootDer, key: softwareKey(privateKey) });
      const leaf = await ecCa.issue(baseSpec(spkiOf('rsa')));
      const rootPath = join(dir.path, 'ec-root.pem');
      const leafPath = join(dir.path, 'ec-leaf.pem');
      writeFileSync(rootPath, certificatePem(rootDer));
      writeFileSync(leafPath, certificatePem(leaf.der));
      expect(openssl(['verify', '-CAfile', rootPath, leafPath]).trim()).toBe(`${leafPath}: OK`);
      expect(openssl(['x509', '-in', leafPath, '-noout', '-text'])).toContain('Signature Algorithm: ecdsa-with-SHA256');
      expect(await verifyIssuedBy(leaf.der, rootDer)).toBe(true);
    } finally {
      dir.cleanup();
    }
  });
});
