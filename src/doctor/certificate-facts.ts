import 'reflect-metadata';
import { X509Certificate, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// The facts a PKI engineer reads off the gateway's CA and RA certificates
// (`openssl x509 -text`): basicConstraints, keyUsage, key type and size, validity.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type KeyUsageName = 'digitalSignature' | 'keyEncipherment' | 'keyCertSign' | 'cRLSign';

const FLAGS: Record<KeyUsageName, number> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
};

export interface CertificateFacts {
  subject: string;
  isCa: boolean;
  /** null: no keyUsage extension (every usage allowed by RFC 5280, but clients differ). */
  keyUsage: Set<KeyUsageName> | null;
  keyType: string;
  /** RSA modulus bits, or the EC curve's field size. */
  keyBits: number | null;
  curve: string | null;
  notBefore: Date;
  notAfter: Date;
  selfSigned: boolean;
}

/** Throws when `der` is not a certificate. */
export function certificateFacts(der: Uint8Array): CertificateFacts {
  const node = new X509Certificate(der);
  const peculiar = new x509.X509Certificate(der);
  const bc = peculiar.getExtension(x509.BasicConstraintsExtension);
  const ku = peculiar.getExtension(x509.KeyUsagesExtension);
  const details = node.publicKey.asymmetricKeyDetails ?? {};
  return {
    subject: node.subject.replace(/\n/g, ', '),
    isCa: bc?.ca === true,
    keyUsage: ku ? new Set((Object.keys(FLAGS) as KeyUsageName[]).filter((n) => (ku.usages & FLAGS[n]) !== 0)) : null,
    keyType: node.publicKey.asymmetricKeyType ?? 'unknown',
    keyBits: details.modulusLength ?? null,
    curve: details.namedCurve ?? null,
    notBefore: new Date(node.validFrom),
    notAfter: new Date(node.validTo),
    selfSigned: node.checkIssued(node),
  };
}

export const DAY_MS = 24 * 60 * 60 * 1000;

export function daysLeft(notAfter: Date, now: Date): number {
  return Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
}
