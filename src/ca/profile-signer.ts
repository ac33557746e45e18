import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyedCertificate } from '../x509/keys.js';
import { toPem } from '../pem.js';
import { softwareKey } from '../x509/software-key.js';
import type { CertificateAuthority } from './authority.js';

// The certificate the gateway signs configuration profiles with (Apple shows
// a signed profile as "Verified" when the chain reaches a trusted root). It is
// issued by our own CA, kept next to it in the data directory, and re-issued
// when it nears expiry. Separate from the RA: that key decrypts SCEP requests
// and should sign nothing but CertReps.

export const PROFILE_SIGNING_KEY_FILE = 'profile-signing.key';
export const PROFILE_SIGNING_CERT_FILE = 'profile-signing.pem';
const VALIDITY_DAYS = 730;
const RENEW_BEFORE_MS = 30 * 86_400_000;


async function atomicWrite(path: string, data: string, mode: number) {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

export async function loadOrCreateProfileSigner(dataDir: string, ca: CertificateAuthority, opts: { passphrase?: string; organization?: string } = {}): Promise<KeyedCertificate> {
  const keyPath = join(dataDir, PROFILE_SIGNING_KEY_FILE);
  const certPath = join(dataDir, PROFILE_SIGNING_CERT_FILE);
  try {
    const [keyPem, certPem] = await Promise.all([readFile(keyPath, 'utf8'), readFile(certPath, 'utf8')]);
    const key = createPrivateKey(opts.passphrase ? { key: keyPem, passphrase: opts.passphrase } : keyPem);
    const cert = new X509Certificate(certPem);
    const current = cert.checkIssued(new X509Certificate(ca.certificate)) && new Date(cert.validTo).getTime() - Date.now() > RENEW_BEFORE_MS;
    if (current) return { certificate: new Uint8Array(cert.raw), key: softwareKey(key) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && !/bad decrypt|passphrase/i.test(String(e))) throw e;
    if (code !== 'ENOENT') throw new Error(`${keyPath}: cannot decrypt (check MDMGW_CA_PASSPHRASE)`);
  }
  const key = await new Promise<KeyObject>((resolve, reject) =>
    generateKeyPair('rsa', { modulusLength: 2048 }, (err, _pub, priv) => (err ? reject(err) : resolve(priv))),
  );
  const issued = await ca.issue({
    subject: [
      { type: 'CN', value: 'mdm-gateway Profile Signing' },
      { type: 'O', value: opts.organization ?? 'mdm-gateway' },
    ],
    subjectAlternativeNames: [],
    extendedKeyUsages: [],
    keyUsage: ['digitalSignature'],
    validityDays: VALIDITY_DAYS,
    hashAlgorithm: 'SHA-256',
    spki: new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' })),
  });
  const keyPem = opts.passphrase
    ? key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: opts.passphrase })
    : key.export({ type: 'pkcs8', format: 'pem' });
  await atomicWrite(keyPath, String(keyPem), 0o600);
  await atomicWrite(certPath, toPem(issued.der), 0o644);
  return { certificate: issued.der, key: softwareKey(key) };
}
