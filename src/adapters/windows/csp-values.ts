import { X509Certificate } from 'node:crypto';
import type { HashAlgorithm, KeyProtection, KeyUsageName, RdnAttribute, SanEntry, SanType } from '../../core/model.js';

// Value encodings of the ClientCertificateInstall SCEP Install nodes, exactly as
// ../shared/reference/windows/clientcertificateinstall-scep.md restates them
// from Microsoft's clientcertificateinstall-csp.md (and its DDF page). Pure.

/**
 * KeyUsage: the X.509 key usage bits as CertEnroll's X509KeyUsageFlags, in
 * decimal: digitalSignature 0x80 (128), nonRepudiation 0x40, keyEncipherment
 * 0x20 (32), dataEncipherment 0x10, keyAgreement 0x08, keyCertSign 0x04,
 * cRLSign 0x02, encipherOnly 0x01, decipherOnly 0x8000. digitalSignature +
 * keyEncipherment = 160 (the reference's example).
 */
export const KEY_USAGE_BITS: Record<KeyUsageName, number> = {
  digitalSignature: 0x80,
  nonRepudiation: 0x40,
  keyEncipherment: 0x20,
  dataEncipherment: 0x10,
  keyAgreement: 0x08,
  keyCertSign: 0x04,
  cRLSign: 0x02,
  encipherOnly: 0x01,
  decipherOnly: 0x8000,
};

export function keyUsageValue(usages: readonly KeyUsageName[]): number {
  return usages.reduce((v, u) => v | KEY_USAGE_BITS[u], 0);
}

/** "must have 0x20 or 0x80 set or configuration fails" (reference, KeyUsage row). */
export function keyUsageAcceptable(value: number): boolean {
  return (value & 0xa0) !== 0;
}

/** HashAlgorithm: family names SHA-1, SHA-2, SHA-3 (reference, HashAlgorithm row); SHA-256/384/512 are the SHA-2 family. */
export function hashAlgorithmValue(h: HashAlgorithm): 'SHA-1' | 'SHA-2' {
  return h === 'SHA-1' ? 'SHA-1' : 'SHA-2';
}

/** KeyProtection: 1 TPM (fail without), 2 TPM if present else software, 3 software KSP (reference, KeyProtection row). */
export function keyProtectionValue(k: KeyProtection): 1 | 2 | 3 {
  return k === 'tpmRequired' ? 1 : k === 'tpmIfPresent' ? 2 : 3;
}

/** CertEnroll AlternativeNameType values (reference, SubjectAlternativeNames row): 2 RFC 822, 3 DNS, 7 URL, 11 UPN. */
export const SAN_FORMAT: Record<SanType, number> = { email: 2, dns: 3, uri: 7, upn: 11 };

/** SubjectAlternativeNames: `format+value` pairs joined by `;`, e.g. `11+ada@contoso.com;3+host.contoso.com`. */
export function subjectAlternativeNamesValue(sans: readonly SanEntry[]): string {
  return sans.map((s) => `${SAN_FORMAT[s.type]}+${s.value}`).join(';');
}

/** A SAN value the `;`-joined list cannot carry unambiguously, or null. */
export function sanProblem(sans: readonly SanEntry[]): string | null {
  const bad = sans.find((s) => s.value.includes(';'));
  return bad ? `the ${bad.type} SAN "${bad.value}" contains ";", which separates entries in SubjectAlternativeNames` : null;
}

/** EKUMapping: OIDs joined by `+`. */
export function ekuMappingValue(ekus: readonly string[]): string {
  return ekus.join('+');
}

/**
 * The X.500 attribute keys CertStrToName/CertNameToStr use: our ST is Windows'
 * S; a dotted OID is written OID.<oid>. The other short names (CN, OU, O, L, C,
 * E, SERIALNUMBER, DC, UID) are the same in both.
 */
export function windowsRdnKey(type: string): string {
  if (type === 'ST') return 'S';
  if (/^[0-2](\.\d+)+$/.test(type)) return `OID.${type}`;
  return type;
}

/**
 * SubjectName: X.500 name as CertNameToStr formats it, e.g. `CN=Ada,OU=MDM,O=Contoso`;
 * a value with leading/trailing space or one of `, = + ;` (and `"`, `<`, `>`, `#`, newline)
 * is quoted, with `"` doubled inside the quotes.
 */
export function subjectNameValue(rdns: readonly RdnAttribute[]): string {
  return rdns.map((r) => `${windowsRdnKey(r.type)}=${quoteRdnValue(r.value)}`).join(',');
}

export function quoteRdnValue(v: string): string {
  const needs = v === '' || /^\s|\s$/.test(v) || /[,=+;"<>#\n\r]/.test(v);
  return needs ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * The few CA certificates a gateway serves (roots, intermediates) parsed once
 * each: a delivering message rendered every install's root and chain, and the
 * X509Certificate parse was about a fifth of its CPU (issue 13, win13). Keyed
 * by the PEM text itself, so a new CA is simply another entry; bounded.
 */
const PARSED_MAX = 64;
const parsed = new Map<string, { thumbprint: string; base64Der: string }>();

function parsedPem(pem: string): { thumbprint: string; base64Der: string } {
  let p = parsed.get(pem);
  if (p) return p;
  const cert = new X509Certificate(pem);
  p = { thumbprint: cert.fingerprint.replace(/:/g, '').toUpperCase(), base64Der: Buffer.from(cert.raw).toString('base64') };
  if (parsed.size >= PARSED_MAX) parsed.clear();
  parsed.set(pem, p);
  return p;
}

/** SHA-1 thumbprint (upper-case hex) of a PEM certificate: CAThumbprint and the RootCATrustedCertificates node name. */
export function pemThumbprint(pem: string): string {
  return parsedPem(pem).thumbprint;
}

export function pemToBase64Der(pem: string): string {
  return parsedPem(pem).base64Der;
}
