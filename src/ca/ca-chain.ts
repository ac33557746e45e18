import 'reflect-metadata';
import { createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { toPem } from '../pem.js';
import { parseTime, readCertificate } from '../x509/cert-raw.js';
import { verifyIssuedBy } from '../x509/certificate-info.js';

// The checks `mdmgw ca import` makes before it installs a CA certificate the
// enterprise CA signed for our key (a subordinate CA), and the chain file the
// gateway serves with it. Each refusal names what is wrong: an operator reads
// it at the terminal, and nothing is written unless every check passed.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export class CaImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaImportError';
  }
}

/** A CA certificate with the certificates above it, issuer first, ending at a self-signed root. */
export interface CaChain {
  certificate: Uint8Array;
  /** Intermediates between the CA and the root, nearest first. */
  intermediates: Uint8Array[];
  /** The self-signed root the chain ends at: what devices must trust. */
  root: Uint8Array;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM text (DER); a block that is not a certificate is an error naming `what`. */
export function certificatesInPem(text: string, what: string): Uint8Array[] {
  const blocks = text.match(PEM_BLOCK) ?? [];
  return blocks.map((block, i) => {
    try {
      const der = new Uint8Array(new x509.X509Certificate(block).rawData);
      readCertificate(der); // our strict reader must accept it too: the gateway re-reads it at every start
      return der;
    } catch (e) {
      throw new CaImportError(`${what}: certificate ${i + 1} is not a readable X.509 certificate (${(e as Error).message})`);
    }
  });
}

function subjectOf(der: Uint8Array): string {
  return new x509.X509Certificate(der).subject;
}

function isSelfSigned(der: Uint8Array): Promise<boolean> {
  return verifyIssuedBy(der, der);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

/** The CA facts one certificate of the chain must show; `pathBelow`: CA certificates that follow it in the path (ours included). */
function checkCaCertificate(der: Uint8Array, role: string, pathBelow: number, now: Date): void {
  const cert = new x509.X509Certificate(der);
  const name = `${role} "${cert.subject}"`;
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc || !bc.ca) throw new CaImportError(`${name} is not a CA certificate (basicConstraints CA:TRUE missing)`);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku) {
    if (!(ku.usages & x509.KeyUsageFlags.keyCertSign)) throw new CaImportError(`${name}: keyUsage lacks keyCertSign, so it may not sign certificates`);
    if (!(ku.usages & x509.KeyUsageFlags.cRLSign)) throw new CaImportError(`${name}: keyUsage lacks cRLSign, so it may not sign the CRLs we publish`);
  } else if (role === 'the certificate') {
    // RFC 5280 lets a CA omit keyUsage, but we need both usages stated: relying parties differ.
    throw new CaImportError(`${name} has no keyUsage extension: ask for keyCertSign and cRLSign (ca.csr requests them)`);
  }
  // pathLenConstraint counts the CA certificates that may follow this one in a path (RFC 5280 4.2.1.9).
  if (bc.pathLength !== undefined && pathBelow > bc.pathLength) {
    throw new CaImportError(`${name} has pathLenConstraint ${bc.pathLength}: it allows ${bc.pathLength} CA certificate(s) below it, the chain puts ${pathBelow} there (our CA included)`);
  }
  const raw = readCertificate(der);
  const notBefore = parseTime(raw.notBefore);
  const notAfter = parseTime(raw.notAfter);
  if (notBefore.getTime() > now.getTime()) throw new CaImportError(`${name} is not valid yet (notBefore ${notBefore.toISOString()})`);
  if (notAfter.getTime() <= now.getTime()) throw new CaImportError(`${name} has expired (notAfter ${notAfter.toISOString()})`);
}

/**
 * Checks `certificate` as our CA certificate for `key` and orders `chain`
 * (any order, extra certificates ignored) from its issuer up to a self-signed
 * root, every link signature-verified. Throws CaImportError with the reason.
 */
/** `key`: the CA key file's key, or the SubjectPublicKeyInfo of a CA key in a PKCS#11 token. */
export async function checkCaChain(certificate: Uint8Array, key: KeyObject | Uint8Array, chain: readonly Uint8Array[], now = new Date()): Promise<CaChain> {
  const spki = key instanceof Uint8Array ? key : new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  if (!sameBytes(spki, readCertificate(certificate).spki)) {
    throw new CaImportError(`the certificate "${subjectOf(certificate)}" does not match the CA key in the data directory (was it issued for this ca.csr?)`);
  }
  checkCaCertificate(certificate, 'the certificate', 0, now);
  if (await isSelfSigned(certificate)) {
    throw new CaImportError(`the certificate "${subjectOf(certificate)}" is self-signed: a subordinate CA's certificate is signed by the enterprise CA (use 'mdmgw ca init' without --subordinate for a root of our own)`);
  }
  const path: Uint8Array[] = [];
  let current = certificate;
  for (;;) {
    let issuer: Uint8Array | undefined;
    for (const candidate of chain) {
      if (path.some((p) => sameBytes(p, candidate)) || sameBytes(candidate, certificate)) continue;
      if (await verifyIssuedBy(current, candidate)) {
        issuer = candidate;
        break;
      }
    }
    if (!issuer) {
      throw new CaImportError(
        `the chain does not reach a self-signed root: no certificate in the chain file signed "${subjectOf(current)}" (issuer "${new x509.X509Certificate(current).issuer}"); put its issuer and every certificate up to the root in --chain`,
      );
    }
    checkCaCertificate(issuer, (await isSelfSigned(issuer)) ? 'the root' : 'the intermediate', path.length + 1, now);
    path.push(issuer);
    if (await isSelfSigned(issuer)) break;
    current = issuer;
  }
  return { certificate, intermediates: path.slice(0, -1), root: path.at(-1)! };
}

/** The chain file the gateway keeps next to ca.pem: intermediates nearest first, then the root. */
export function chainPem(chain: Pick<CaChain, 'intermediates' | 'root'>): string {
  return [...chain.intermediates, chain.root].map((der) => toPem(der)).join('');
}
