import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { encodeName } from '../../src/x509/names.js';
import { loadOrCreateCaMaterial } from '../../src/ca/key-files.js';
import { toPem as certificatePem } from '../../src/pem.js';
import { certificateInfo } from '../../src/x509/certificate-info.js';
import { CsrParseError, parseCsr, parseDnDer } from '../../src/x509/csr-parser.js';
import { formatDn } from '../../src/x509/names.js';
import { openssl, opensslBuffer, opensslOutput, tempDir } from '../ca/helpers.js';

const dir = tempDir('mdmgw-csr-');
afterAll(() => dir.cleanup());

/** Runs `openssl req -new` in the temp dir and returns the DER CSR plus the key's DER SPKI. */
function makeCsr(name: string, args: string[], config?: string): { der: Uint8Array; spki: Uint8Array } {
  const cwd = dir.path;
  const cfgArgs: string[] = [];
  if (config) {
    writeFileSync(join(cwd, `${name}.cnf`), config);
    cfgArgs.push('-config', `${name}.cnf`);
  }
  openssl(['req', '-new', '-nodes', '-keyout', `${name}.key`, '-outform', 'DER', '-out', `${name}.der`, ...cfgArgs, ...args], {
    cwd,
  });
  const spki = opensslBuffer(['pkey', '-in', `${name}.key`, '-pubout', '-outform', 'DER'], { cwd });
  return { der: new Uint8Array(readFileSync(join(cwd, `${name}.der`))), spki: new Uint8Array(spki) };
}

const RSA_CONFIG = `
[req]
prompt = no
distinguished_name = dn
attributes = req_attributes
[dn]
CN = laptop-1
OU = MDM
O = Contoso
C = US
[req_attributes]
challengePassword = s3cr3t-Pw
`;

describe('parseCsr with CSRs from the openssl CLI', () => {
  let rsa: { der: Uint8Array; spki: Uint8Array };

  beforeAll(() => {
    rsa = makeCsr(
      'rsa',
      [
        '-newkey',
        'rsa:2048',
        '-addext',
        'subjectAltName=email:user@contoso.com,DNS:laptop-1.contoso.com,URI:https://mdm.contoso.com/d/1,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:user@contoso.com,IP:192.0.2.7,otherName:1.2.3.4;UTF8:foo',
        '-addext',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        '-addext',
        'extendedKeyUsage=clientAuth,1.3.6.1.4.1.311.20.2.2',
      ],
      RSA_CONFIG,
    );
  });

  it('reads subject, SANs, KU, EKU, key, challengePassword and a valid signature (RSA 2048)', async () => {
    const info = await parseCsr(rsa.der);
    expect(info.subject).toEqual([
      { type: 'CN', value: 'laptop-1' },
      { type: 'OU', value: 'MDM' },
      { type: 'O', value: 'Contoso' },
      { type: 'C', value: 'US' },
    ]);
    expect(info.subjectAltNames).toEqual([
      { type: 'email', value: 'user@contoso.com' },
      { type: 'dns', value: 'laptop-1.contoso.com' },
      { type: 'uri', value: 'https://mdm.contoso.com/d/1' },
      { type: 'upn', value: 'user@contoso.com' },
      { type: 'ip', value: '192.0.2.7' },
      { type: 'other', value: expect.stringMatching(/^otherName:1\.2\.3\.4:/) },
    ]);
    expect(info.keyUsage).toEqual(['digitalSignature', 'keyEncipherment']);
    expect(info.extendedKeyUsages).toEqual(['1.3.6.1.5.5.7.3.2', '1.3.6.1.4.1.311.20.2.2']);
    expect(info.publicKey.algorithm).toBe('RSA');
    expect(info.publicKey.bits).toBe(2048);
    expect(Buffer.from(info.publicKey.spki).equals(Buffer.from(rsa.spki))).toBe(true);
    expect(info.challengePassword).toBe('s3cr3t-Pw');
    expect(info.signatureValid).toBe(true);
    expect(info.der).toBe(rsa.der);
  });

  it('reads an EC P-256 CSR without attributes or extensions', async () => {
    const ec = makeCsr('ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-subj', '/CN=phone-7/O=Contoso']);
    const info = await parseCsr(ec.der);
    expect(info.publicKey.algorithm).toBe('EC');
    expect(info.publicKey.bits).toBe(256);
    expect(Buffer.from(info.publicKey.spki).equals(Buffer.from(ec.spki))).toBe(true);
    expect(info.signatureValid).toBe(true);
    expect(info.subject).toEqual([
      { type: 'CN', value: 'phone-7' },
      { type: 'O', value: 'Contoso' },
    ]);
    expect(info.keyUsage).toBeNull();
    expect(info.extendedKeyUsages).toBeNull();
    expect(info.subjectAltNames).toEqual([]);
    expect(info.challengePassword).toBeNull();
  });

  it('reads an EC P-384 key size', async () => {
    const ec = makeCsr('ec384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-subj', '/CN=x', '-sha384']);
    const info = await parseCsr(ec.der);
    expect(info.publicKey.bits).toBe(384);
    expect(info.signatureValid).toBe(true);
  });

  it('maps E, SERIALNUMBER, DC and UID to short names, others to dotted OIDs, and flattens multi-valued RDNs', async () => {
    const csr = makeCsr('names', [
      '-newkey',
      'rsa:2048',
      '-multivalue-rdn',
      '-subj',
      '/DC=com/DC=contoso/CN=Jane Doe+UID=jdoe/emailAddress=jane@contoso.com/serialNumber=C02XK0/SN=Doe/ST=WA/L=Redmond',
    ]);
    const info = await parseCsr(csr.der);
    expect(info.subject).toEqual([
      { type: 'DC', value: 'com' },
      { type: 'DC', value: 'contoso' },
      // DER sorts the SET: UID's encoding sorts before CN's here or not; both are present, in encoding order.
      ...(info.subject[2]?.type === 'CN'
        ? [
            { type: 'CN', value: 'Jane Doe' },
            { type: 'UID', value: 'jdoe' },
          ]
        : [
            { type: 'UID', value: 'jdoe' },
            { type: 'CN', value: 'Jane Doe' },
          ]),
      { type: 'E', value: 'jane@contoso.com' },
      { type: 'SERIALNUMBER', value: 'C02XK0' },
      { type: '2.5.4.4', value: 'Doe' },
      { type: 'ST', value: 'WA' },
      { type: 'L', value: 'Redmond' },
    ]);
    expect(info.signatureValid).toBe(true);
  });

  it('reads a UTF8String challengePassword and non-ASCII subject values', async () => {
    const csr = makeCsr(
      'utf8',
      ['-newkey', 'rsa:2048', '-utf8'],
      `
[req]
prompt = no
utf8 = yes
string_mask = utf8only
distinguished_name = dn
attributes = req_attributes
[dn]
CN = Müller-Lüdenscheidt
[req_attributes]
challengePassword = pässwörd-ü
`,
    );
    const asn = openssl(['asn1parse', '-inform', 'DER'], { input: csr.der });
    expect(asn).toMatch(/challengePassword\s*\n.*\n.*UTF8STRING/);
    const info = await parseCsr(csr.der);
    expect(info.challengePassword).toBe('pässwörd-ü');
    expect(info.subject).toEqual([{ type: 'CN', value: 'Müller-Lüdenscheidt' }]);
  });

  it('verifies SHA-1 and RSASSA-PSS CSR signatures', async () => {
    const sha1 = makeCsr('sha1', ['-newkey', 'rsa:2048', '-sha1', '-subj', '/CN=old-client']);
    expect(openssl(['req', '-inform', 'DER', '-noout', '-text'], { input: sha1.der })).toContain('sha1WithRSAEncryption');
    expect((await parseCsr(sha1.der)).signatureValid).toBe(true);
    const pss = makeCsr('pss', [
      '-newkey',
      'rsa:2048',
      '-sha256',
      '-sigopt',
      'rsa_padding_mode:pss',
      '-sigopt',
      'rsa_pss_saltlen:32',
      '-subj',
      '/CN=pss-client',
    ]);
    expect(openssl(['req', '-inform', 'DER', '-noout', '-text'], { input: pss.der })).toContain('rsassaPss');
    expect((await parseCsr(pss.der)).signatureValid).toBe(true);
  });

  it('reports signatureValid=false for a tampered CSR instead of throwing', async () => {
    // Change the CN (laptop-1 -> laptop-2): still well-formed DER, signature no longer matches.
    const tampered = new Uint8Array(rsa.der);
    const at = Buffer.from(tampered).indexOf('laptop-1');
    expect(at).toBeGreaterThan(0);
    tampered[at + 7] = '2'.charCodeAt(0);
    const info = await parseCsr(tampered);
    expect(info.subject[0]).toEqual({ type: 'CN', value: 'laptop-2' });
    expect(info.signatureValid).toBe(false);
    // Flip a bit in the signature itself.
    const badSig = new Uint8Array(rsa.der);
    badSig[badSig.length - 5]! ^= 0x01;
    expect((await parseCsr(badSig)).signatureValid).toBe(false);
    // OpenSSL agrees (it reports, but does not exit non-zero).
    const verifyArgs = ['req', '-inform', 'DER', '-verify', '-noout'];
    expect(opensslOutput(verifyArgs, { input: rsa.der })).toContain('verify OK');
    expect(opensslOutput(verifyArgs, { input: tampered })).toContain('verify failure');
  });

  it('reads IPv6, directoryName and registeredID SANs the way @peculiar/x509 printed them', async () => {
    const csr = makeCsr(
      'sans',
      ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-subj', '/CN=s', '-addext', 'subjectAltName=IP:2001:db8::1,IP:::1,IP:fe80:0:0:1:0:0:0:2,IP:1:2:3:4:5:6:7:8,dirName:dir_sect,RID:1.2.3.4'],
      '[req]\ndistinguished_name = dn\n[dn]\n[dir_sect]\nCN = Foo\nO = Bar\n',
    );
    const info = await parseCsr(csr.der);
    expect(info.subjectAltNames).toEqual([
      { type: 'ip', value: '2001:db8::1' },
      { type: 'ip', value: '::1' },
      { type: 'ip', value: 'fe80:0:0:1::2' },
      { type: 'ip', value: '1:2:3:4:5:6:7:8' },
      { type: 'other', value: 'dirName:CN=Foo,O=Bar' },
      { type: 'other', value: 'registeredID:1.2.3.4' },
    ]);
    expect(info.signatureValid).toBe(true);
  });

  it('refuses BER inside the request (non-minimal length, constructed string), not only at the top', async () => {
    // The subject's CN value "laptop-1" (0c 08 ...) re-encoded with a long-form length (0c 81 08 ...): BER, not DER.
    const at = Buffer.from(rsa.der).indexOf(Buffer.from([0x0c, 0x08, ...Buffer.from('laptop-1')]));
    expect(at).toBeGreaterThan(0);
    const d = Buffer.from(rsa.der);
    const grow = (buf: Buffer, from: number, by: number): Buffer => {
      // Bump every enclosing definite length that spans `from` (two-byte 0x82 lengths in this CSR).
      const out = Buffer.from(buf);
      for (let i = 0; i < from; i++) {
        if ((out[i] === 0x30 || out[i] === 0x31) && out[i + 1] === 0x82 && i + 4 + out.readUInt16BE(i + 2) > from) out.writeUInt16BE(out.readUInt16BE(i + 2) + by, i + 2);
        else if ((out[i] === 0x30 || out[i] === 0x31) && out[i + 1]! < 0x80 && i + 2 + out[i + 1]! > from && i + 2 <= from) out[i + 1] = out[i + 1]! + by;
      }
      return out;
    };
    const ber = grow(d, at, 1);
    const mutated = Buffer.concat([ber.subarray(0, at + 1), Buffer.from([0x81]), ber.subarray(at + 1)]);
    await expect(parseCsr(new Uint8Array(mutated))).rejects.toThrow(/malformed PKCS#10 request: non-minimal DER length/);
    const constructed = Buffer.from(rsa.der);
    constructed[at] = 0x2c; // a constructed UTF8String
    await expect(parseCsr(new Uint8Array(constructed))).rejects.toBeInstanceOf(CsrParseError);
  });

  it('throws CsrParseError for garbage, truncated, trailing-byte and non-CSR input', async () => {
    await expect(parseCsr(new Uint8Array(0))).rejects.toBeInstanceOf(CsrParseError);
    await expect(parseCsr(new Uint8Array(randomBytes(300)))).rejects.toBeInstanceOf(CsrParseError);
    await expect(parseCsr(new TextEncoder().encode('-----BEGIN CERTIFICATE REQUEST-----'))).rejects.toBeInstanceOf(
      CsrParseError,
    );
    await expect(parseCsr(rsa.der.subarray(0, rsa.der.length - 10))).rejects.toBeInstanceOf(CsrParseError);
    await expect(parseCsr(Uint8Array.from([...rsa.der, 0]))).rejects.toBeInstanceOf(CsrParseError);
    await expect(parseCsr(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00))).rejects.toBeInstanceOf(CsrParseError);
    // A certificate is DER, but not a PKCS#10 request.
    const cert = opensslBuffer(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'x.key', '-subj', '/CN=x', '-outform', 'DER'], {
      cwd: dir.path,
    });
    await expect(parseCsr(new Uint8Array(cert))).rejects.toThrow(/malformed PKCS#10/);
  });
});

describe('formatDn / parseDnDer / certificateInfo', () => {
  it('formats in the given order and escapes special characters', () => {
    expect(
      formatDn([
        { type: 'CN', value: 'Doe, Jane' },
        { type: 'OU', value: 'R&D + "QA"' },
        { type: 'O', value: ' lead#' },
        { type: 'L', value: '#trail ' },
        { type: 'ST', value: 'a\\b<c>;' },
      ]),
    ).toBe('CN=Doe\\, Jane,OU=R&D \\+ \\"QA\\",O=\\ lead#,L=\\#trail\\ ,ST=a\\\\b\\<c\\>\\;');
    expect(formatDn([{ type: 'CN', value: ' ' }])).toBe('CN=\\ ');
    expect(formatDn([])).toBe('');
  });

  it('parses a Name DER back to the same RDNs', () => {
    const rdns = [
      { type: 'CN', value: 'laptop-1' },
      { type: 'SERIALNUMBER', value: 'AB_12' }, // not PrintableString: written as UTF8String, read back equal
      { type: 'C', value: 'DE' },
      { type: '1.3.6.1.4.1.99999.1', value: 'custom' },
    ];
    expect(parseDnDer(encodeName(rdns))).toEqual(rdns);
    expect(() => parseDnDer(Uint8Array.of(1, 2, 3))).toThrow(CsrParseError);
  });

  it('encodes STREET and T by any spelling the templates accept, and reads them back as the model names them (OIDs)', () => {
    const der = encodeName([
      { type: 'STREET', value: '1 Main St' },
      { type: 'title', value: 'Engineer' },
      { type: 'S', value: 'Bavaria' },
    ]);
    expect(Buffer.from(der).equals(Buffer.from(encodeName([
      { type: '2.5.4.9', value: '1 Main St' },
      { type: '2.5.4.12', value: 'Engineer' },
      { type: 'ST', value: 'Bavaria' },
    ])))).toBe(true);
    expect(parseDnDer(der)).toEqual([
      { type: '2.5.4.9', value: '1 Main St' },
      { type: '2.5.4.12', value: 'Engineer' },
      { type: 'ST', value: 'Bavaria' },
    ]);
  });

  it('reads certificate facts that match OpenSSL', async () => {
    const data = tempDir();
    try {
      const m = await loadOrCreateCaMaterial(data.path, { organization: 'Fabrikam' });
      const ec = makeCsr('leaf', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-subj', '/CN=dev-9']);
      const csr = await parseCsr(ec.der);
      const issued = await new CertificateAuthority(m.root).issue({
        subject: csr.subject,
        subjectAlternativeNames: [],
        extendedKeyUsages: [],
        keyUsage: ['digitalSignature'],
        validityDays: 90,
        hashAlgorithm: 'SHA-256',
        spki: csr.publicKey.spki,
      });
      const info = certificateInfo(issued.der);
      expect(info.subject).toEqual([{ type: 'CN', value: 'dev-9' }]);
      expect(info.issuer).toEqual([
        { type: 'CN', value: 'mdm-gateway Root CA' },
        { type: 'O', value: 'Fabrikam' },
      ]);
      expect(info.serialNumber).toBe(issued.serialNumber);
      expect(info.thumbprint).toBe(issued.thumbprint);
      expect(info.sha256).toBe(issued.sha256);
      expect(Buffer.from(info.spki).equals(Buffer.from(ec.spki))).toBe(true);
      const pemPath = join(data.path, 'leaf.pem');
      writeFileSync(pemPath, certificatePem(issued.der));
      const dates = openssl(['x509', '-in', pemPath, '-noout', '-startdate', '-enddate', '-serial']);
      expect(dates).toContain(`serial=${issued.serialNumber.toUpperCase()}`);
      const nb = /notBefore=(.*)/.exec(dates)![1]!;
      const na = /notAfter=(.*)/.exec(dates)![1]!;
      expect(new Date(nb).getTime()).toBe(info.notBefore.getTime());
      expect(new Date(na).getTime()).toBe(info.notAfter.getTime());
      expect(openssl(['verify', '-CAfile', join(data.path, 'ca.pem'), pemPath])).toContain(': OK');
      expect(() => certificateInfo(ec.der)).toThrow(CsrParseError);
    } finally {
      data.cleanup();
    }
  });
});
