import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { toPem } from '../../src/pem.js';
import { authorityKeyIdentifier, basicConstraints, buildCertificate, keyIdentifierFor, keyUsage, subjectKeyIdentifier } from '../../src/ca/certificate-builder.js';
import { readCertificate, subjectKeyIdentifierOf } from '../../src/x509/cert-raw.js';
import { encodeName } from '../../src/x509/names.js';
import { softwareKey } from '../../src/x509/software-key.js';
import { randomSerialNumber } from '../../src/ca/serial.js';

// Breaks a real data directory the way an operator could: ra.pem re-issued by
// the directory's own CA for the same RA key, with other key usages or
// validity (a hand-made RA, an old backup).

type Usage = Parameters<typeof keyUsage>[0][number];

export async function reissueRa(dataDir: string, opts: { usages: Usage[]; notBefore: Date; notAfter: Date }): Promise<void> {
  const caKey = createPrivateKey(await readFile(path.join(dataDir, 'ca.key'), 'utf8'));
  const root = readCertificate(new Uint8Array(new X509Certificate(await readFile(path.join(dataDir, 'ca.pem'), 'utf8')).raw));
  const raKey = createPrivateKey(await readFile(path.join(dataDir, 'ra.key'), 'utf8'));
  const spki = new Uint8Array(createPublicKey(raKey).export({ type: 'spki', format: 'der' }));
  const der = await buildCertificate({
    serialNumber: randomSerialNumber(),
    issuerName: root.subjectName,
    subjectName: encodeName([{ type: 'CN', value: 'hand-made SCEP RA' }]),
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    spki,
    extensions: [
      basicConstraints(false),
      keyUsage(opts.usages),
      authorityKeyIdentifier(subjectKeyIdentifierOf(root) ?? keyIdentifierFor(root.spki)),
      subjectKeyIdentifier(keyIdentifierFor(spki)),
    ],
    hash: 'sha256',
    signer: softwareKey(caKey),
  });
  await writeFile(path.join(dataDir, 'ra.pem'), toPem(der), { mode: 0o600 });
}
