import { createHash } from 'node:crypto';
import type { IssuedCertificateData } from '../../core/issuer.js';
import { IssuanceRefused } from '../../core/issuer.js';
import { toHex } from '../../x509/asn1/bytes.js';
import { children, raw, readWhole } from '../../x509/asn1/der-reader.js';
import { readCertificate, subjectKeyIdentifierOf } from '../../x509/cert-raw.js';
import { certificateInfo, verifyIssuedBy } from '../../x509/certificate-info.js';
import { formatDn } from '../../x509/names.js';
import { keyIdentifierFor } from '../certificate-builder.js';

// What every upstream connector does with the certificates an upstream CA
// sends back: pick the one for the device's key, check that the upstream's
// own CA signed it, and describe it the way our own CA describes what it
// issues, so it is recorded exactly like ours (issuerId: the upstream CA's SKI).

/** The hex id an upstream CA's certificates are recorded under: its subjectKeyIdentifier (as CertificateAuthority.id). */
export function upstreamCaId(caDer: Uint8Array): string {
  const c = readCertificate(caDer);
  return toHex(subjectKeyIdentifierOf(c) ?? keyIdentifierFor(c.spki));
}

/** SHA-256 of a certificate's DER, lower-case hex: what `caFingerprint` pins. */
export function sha256Fingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** `AB:CD:...` or `abcd...` → `abcd...`. */
export function normalizeFingerprint(f: string): string {
  return f.replace(/[:\s]/g, '').toLowerCase();
}

/** True when the certificate says basicConstraints cA=TRUE. */
export function isCaCertificate(der: Uint8Array): boolean {
  try {
    const ext = readCertificate(der).extensions.get('2.5.29.19');
    if (!ext) return false;
    const seq = readWhole(ext.value, 0x30);
    const [first] = children(ext.value, seq);
    return first !== undefined && first.tag === 0x01 && ext.value[first.contentStart] !== 0x00;
  } catch {
    return false;
  }
}

/** The DER subject Name of a PKCS#10 request (CertPoll's issuerAndSubject wants it). */
export function csrSubjectName(csrDer: Uint8Array): Uint8Array {
  const top = readWhole(csrDer, 0x30);
  const [cri] = children(csrDer, top);
  if (!cri) throw new Error('CSR without certificationRequestInfo');
  const [, subject] = children(csrDer, cri);
  if (!subject || subject.tag !== 0x30) throw new Error('CSR without subject Name');
  return raw(csrDer, subject);
}

/**
 * The certificate among `certificates` that carries `spki` and is signed by
 * one of `cas`, as IssuedCertificateData. Anything else is an unusable answer
 * (IssuanceRefused 'unavailable'): the device must never be handed a
 * certificate for another key, or one its trusted chain does not cover.
 */
export async function acceptIssued(upstream: string, certificates: readonly Uint8Array[], spki: Uint8Array, cas: readonly Uint8Array[]): Promise<IssuedCertificateData> {
  const mine = certificates.find((c) => {
    try {
      return Buffer.from(readCertificate(c).spki).equals(Buffer.from(spki));
    } catch {
      return false;
    }
  });
  if (!mine) throw new IssuanceRefused(upstream, 'unavailable', 'the upstream CA answered without a certificate for the device key');
  for (const ca of cas) {
    if (await verifyIssuedBy(mine, ca)) return describe(mine, upstreamCaId(ca));
  }
  throw new IssuanceRefused(upstream, 'unavailable', "the certificate the upstream CA returned is not signed by the upstream's CA certificate");
}

function describe(der: Uint8Array, issuerId: string): IssuedCertificateData {
  const info = certificateInfo(der);
  return {
    der,
    // Stored as our own serials are: lower-case hex without a sign byte.
    serialNumber: info.serialNumber.replace(/^(00)+(?=.)/, ''),
    subject: formatDn(info.subject),
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    thumbprint: info.thumbprint,
    sha256: info.sha256,
    issuerId,
  };
}
