// Exact-byte view of a DER certificate: the pieces the CA copies verbatim
// (issuer name, subject key identifier) must not go through a decode/re-encode
// round trip, or a chain can break on a re-encoded string type.
// Strict DER (../asn1/der-reader.ts). Used by the CA for its own and issued
// certificates and by certificateInfo()/verifyIssuedBy() in ../csr.ts; the
// codec reads certificates embedded in SCEP messages with
// ../codec/cms-certificate.ts instead, which tolerates BER.

import { createHash } from 'node:crypto';
import { DerError } from './asn1/der-error.js';
import { children, content, decodeOid, raw, readWhole, type Tlv } from './asn1/der-reader.js';

export interface RawExtension {
  critical: boolean;
  /** Contents of extnValue (the DER of the extension value). */
  value: Uint8Array;
}

export interface RawCertificate {
  tbs: Uint8Array;
  serial: Uint8Array; // INTEGER content bytes
  issuerName: Uint8Array; // Name DER
  subjectName: Uint8Array; // Name DER
  notBefore: Uint8Array; // Time TLV
  notAfter: Uint8Array; // Time TLV
  spki: Uint8Array;
  extensions: Map<string, RawExtension>;
  signatureAlgorithm: Uint8Array; // AlgorithmIdentifier DER
  signature: Uint8Array; // BIT STRING contents without the unused-bits byte
}

export function readCertificate(der: Uint8Array): RawCertificate {
  const top = readWhole(der, 0x30);
  const [tbsT, algT, sigT] = children(der, top);
  if (!tbsT || !algT || !sigT || tbsT.tag !== 0x30 || algT.tag !== 0x30 || sigT.tag !== 0x03) {
    throw new DerError('not an X.509 certificate');
  }
  const f = children(der, tbsT);
  let i = 0;
  if (f[0]?.tag === 0xa0) i++; // version
  const need = (tag: number): Tlv => {
    const t = f[i++];
    if (!t || t.tag !== tag) throw new DerError('malformed TBSCertificate');
    return t;
  };
  const serialT = need(0x02);
  need(0x30); // signature
  const issuerT = need(0x30);
  const validityT = need(0x30);
  const subjectT = need(0x30);
  const spkiT = need(0x30);
  const extensions = new Map<string, RawExtension>();
  for (; i < f.length; i++) {
    const t = f[i]!;
    if (t.tag !== 0xa3) continue; // issuer/subject unique IDs
    const [extsT] = children(der, t);
    if (!extsT) throw new DerError('empty extensions');
    for (const extT of children(der, extsT)) {
      const parts = children(der, extT);
      const oidT = parts[0];
      const valueT = parts[parts.length - 1];
      if (!oidT || oidT.tag !== 0x06 || !valueT || valueT.tag !== 0x04) throw new DerError('malformed extension');
      const critT = parts.length === 3 ? parts[1] : undefined;
      extensions.set(decodeOid(content(der, oidT)), {
        critical: critT !== undefined && content(der, critT)[0] !== 0,
        value: content(der, valueT),
      });
    }
  }
  const [nbT, naT] = children(der, validityT);
  if (!nbT || !naT) throw new DerError('malformed validity');
  const sig = content(der, sigT);
  return {
    tbs: raw(der, tbsT),
    serial: content(der, serialT),
    issuerName: raw(der, issuerT),
    subjectName: raw(der, subjectT),
    notBefore: raw(der, nbT),
    notAfter: raw(der, naT),
    spki: raw(der, spkiT),
    extensions,
    signatureAlgorithm: raw(der, algT),
    signature: sig.subarray(1),
  };
}

/** The keyIdentifier bytes of a subjectKeyIdentifier extension, or null. */
export function subjectKeyIdentifierOf(cert: RawCertificate): Uint8Array | null {
  const ext = cert.extensions.get('2.5.29.14');
  if (!ext) return null;
  const t = readWhole(ext.value, 0x04);
  return content(ext.value, t);
}

/**
 * The SID in Microsoft's NTDS CA security extension (1.3.6.1.4.1.311.25.2,
 * ca/certificate-builder.ts ntdsCaSecurity), or null when absent. Throws
 * DerError when the extension is present but not that exact shape.
 */
export function securityIdentifierOf(cert: RawCertificate): string | null {
  const ext = cert.extensions.get('1.3.6.1.4.1.311.25.2');
  if (!ext) return null;
  const v = ext.value;
  const names = children(v, readWhole(v, 0x30));
  const other = names.find((n) => n.tag === 0xa0);
  if (names.length !== 1 || !other) throw new DerError('NTDS CA security extension: expected one otherName');
  const [oidT, wrapped, ...extra] = children(v, other);
  if (!oidT || oidT.tag !== 0x06 || !wrapped || wrapped.tag !== 0xa0 || extra.length > 0) throw new DerError('NTDS CA security extension: bad otherName');
  if (decodeOid(content(v, oidT)) !== '1.3.6.1.4.1.311.25.2.1') throw new DerError('NTDS CA security extension: not szOID_NTDS_OBJECTSID');
  const inner = children(v, wrapped);
  if (inner.length !== 1 || inner[0]!.tag !== 0x04) throw new DerError('NTDS CA security extension: expected an OCTET STRING');
  return Buffer.from(content(v, inner[0]!)).toString('latin1');
}

/** Parses a DER UTCTime/GeneralizedTime TLV (the Z forms RFC 5280 mandates). */
export function parseTime(tlvBytes: Uint8Array): Date {
  const t = readWhole(tlvBytes);
  const s = Buffer.from(content(tlvBytes, t)).toString('latin1');
  let m: RegExpExecArray | null;
  if (t.tag === 0x17 && (m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    const yy = Number(m[1]);
    return new Date(Date.UTC(yy >= 50 ? 1900 + yy : 2000 + yy, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  if (t.tag === 0x18 && (m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s))) {
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  }
  throw new DerError(`unsupported Time encoding: ${s}`);
}

/** The two fingerprints the gateway stores and shows for a certificate, over its exact DER. */
export interface CertificateFingerprints {
  thumbprint: string; // SHA-1 of DER, upper-case hex (the Windows "thumbprint")
  sha256: string; // SHA-256 of DER, lower-case hex
}

export function fingerprints(der: Uint8Array): CertificateFingerprints {
  return {
    thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase(),
    sha256: createHash('sha256').update(der).digest('hex'),
  };
}
