import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initCa } from '../../src/ca/ca-setup.js';
import { loadRetiredCas, rollOverCa } from '../../src/ca/ca-rollover.js';
import { caKeyMismatch, generateCaKey, keyTypeOfCertificate, loadOrCreateCaMaterial } from '../../src/ca/key-files.js';
import { verifyIssuedBy } from '../../src/x509/certificate-info.js';
import { openssl, tempDir } from './helpers.js';

// The CA key type (issue 13, docs/ca-keys.md): what `ca init --key`,
// `ca rollover --key` and a first start with MDMGW_CA_KEY make, and that an
// existing CA keeps its own type whatever MDMGW_CA_KEY says.

const dir = tempDir('mdmgw-ca-key-');
afterAll(() => dir.cleanup());
const pemOf = (d: string, f = 'ca.pem') => readFile(join(d, f), 'utf8');
const derOf = async (d: string, f = 'ca.pem') => new Uint8Array(Buffer.from((await pemOf(d, f)).replace(/-----[^-]+-----|\s/g, ''), 'base64'));

describe('CA key type', () => {
  it('initCa with keyType p256: an EC P-256 self-signed root (ecdsa-with-SHA256); without it RSA-3072 as before', async () => {
    const ec = join(dir.path, 'init-p256');
    await initCa(ec, { keyType: 'p256' });
    const text = openssl(['x509', '-in', join(ec, 'ca.pem'), '-noout', '-text']);
    expect(text).toContain('ASN1 OID: prime256v1');
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(keyTypeOfCertificate(await derOf(ec))).toBe('p256');
    expect(openssl(['pkey', '-in', join(ec, 'ca.key'), '-noout', '-text'])).toContain('ASN1 OID: prime256v1');

    const rsa = join(dir.path, 'init-default');
    await initCa(rsa);
    expect(keyTypeOfCertificate(await derOf(rsa))).toBe('rsa3072');
    expect(openssl(['x509', '-in', join(rsa, 'ca.pem'), '-noout', '-text'])).toContain('Signature Algorithm: sha256WithRSAEncryption');
  });

  it('initCa --subordinate with p256: the request is signed with ecdsa-with-SHA256 and verifies', async () => {
    const d = join(dir.path, 'sub-p256');
    await initCa(d, { subordinate: true, keyType: 'p256', subject: 'CN=Contoso P256 Issuing CA, O=Contoso' });
    const out = openssl(['req', '-in', join(d, 'ca.csr'), '-noout', '-text', '-verify'], {});
    expect(out).toContain('ASN1 OID: prime256v1');
    expect(out).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(out).toContain('CA:TRUE');
  });

  it('a first start with caKey p256 makes a P-256 root and an RSA-2048 RA it signed', async () => {
    const d = join(dir.path, 'first-start');
    const m = await loadOrCreateCaMaterial(d, { caKey: 'p256' });
    expect(m.created).toBe(true);
    expect(keyTypeOfCertificate(m.root.certificate)).toBe('p256');
    expect(m.root.key.algorithm).toBe('EC');
    expect(keyTypeOfCertificate(m.ra.certificate)).toBe('rsa2048');
    expect(await verifyIssuedBy(m.ra.certificate, m.root.certificate)).toBe(true);
  });

  it('an existing RSA CA stays RSA whatever caKey asks for, and caKeyMismatch says why', async () => {
    const d = join(dir.path, 'existing-rsa');
    const first = await loadOrCreateCaMaterial(d);
    const again = await loadOrCreateCaMaterial(d, { caKey: 'p256' });
    expect(again.created).toBe(false);
    expect(Buffer.from(again.root.certificate).equals(Buffer.from(first.root.certificate))).toBe(true);
    expect(keyTypeOfCertificate(again.root.certificate)).toBe('rsa3072');
    expect(caKeyMismatch('p256', again.root.certificate)).toMatch(/^MDMGW_CA_KEY=p256 applies to new CAs: the existing CA is RSA-3072 and keeps working as it is; `mdmgw ca rollover --key p256`/);
    expect(caKeyMismatch('rsa3072', again.root.certificate)).toBeNull();
    expect(caKeyMismatch(undefined, again.root.certificate)).toBeNull();
  });

  it('rollover: --key p256 turns an RSA CA into a P-256 one (the RSA CA retired, the RA re-issued under the new root); without a key type it keeps the old type', async () => {
    const d = join(dir.path, 'rollover');
    const old = await loadOrCreateCaMaterial(d);
    const r = await rollOverCa(d, { keyType: 'p256' });
    expect(r).toMatchObject({ retiredKeyType: 'rsa3072', keyType: 'p256' });
    const root = await derOf(d);
    expect(keyTypeOfCertificate(root)).toBe('p256');
    const ra = await derOf(d, 'ra.pem');
    expect(keyTypeOfCertificate(ra)).toBe('rsa2048');
    expect(await verifyIssuedBy(ra, root)).toBe(true);
    const retired = await loadRetiredCas(d, undefined);
    expect(retired.map((c) => keyTypeOfCertificate(c.certificate))).toEqual(['rsa3072']);
    expect(Buffer.from(retired[0]!.certificate).equals(Buffer.from(old.root.certificate))).toBe(true);
    // The old RA (RSA CA's) stays as ra.previous.* for requests encrypted to it.
    expect(await verifyIssuedBy(await derOf(d, 'ra.previous.pem'), old.root.certificate)).toBe(true);

    const again = await rollOverCa(d);
    expect(again).toMatchObject({ retiredKeyType: 'p256', keyType: 'p256' });
    expect(keyTypeOfCertificate(await derOf(d))).toBe('p256');
  });

  it('rsa2048: a first start makes an RSA-2048 root (as many NDES / AD CS issuing CAs are) and a rollover without a key type keeps it', async () => {
    const d = join(dir.path, 'first-start-rsa2048');
    const m = await loadOrCreateCaMaterial(d, { caKey: 'rsa2048' });
    expect(m.created).toBe(true);
    expect(keyTypeOfCertificate(m.root.certificate)).toBe('rsa2048');
    expect(openssl(['x509', '-in', join(d, 'ca.pem'), '-noout', '-text'])).toContain('Public-Key: (2048 bit)');
    expect(await verifyIssuedBy(m.ra.certificate, m.root.certificate)).toBe(true);
    expect(caKeyMismatch('rsa2048', m.root.certificate)).toBeNull();
    expect(caKeyMismatch('rsa3072', m.root.certificate)).toMatch(/the existing CA is RSA-2048/);
    const again = await rollOverCa(d);
    expect(again).toMatchObject({ retiredKeyType: 'rsa2048', keyType: 'rsa2048' });
    expect(keyTypeOfCertificate(await derOf(d))).toBe('rsa2048');
  });

  it('generateCaKey refuses a type it does not know', async () => {
    await expect(generateCaKey('p384' as never)).rejects.toThrow(/unknown CA key type "p384": use rsa3072 or rsa2048 or p256/);
  });
});
