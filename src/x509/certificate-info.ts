// Facts about a DER certificate and the issued-by check, for renewal, device
// identity and the CA's own key files. Strict DER slices come from cert-raw.ts;
// DN decoding and signature verification are the CSR parser's.

import { createPublicKey } from 'node:crypto';
import type { RdnAttribute } from '../core/model.js';
import { toHex } from './asn1/bytes.js';
import { children, content, decodeOid, readWhole } from './asn1/der-reader.js';
import { fingerprints, parseTime, readCertificate, type CertificateFingerprints } from './cert-raw.js';
import { CsrParseError, parseDnDer, verifySignature } from './csr-parser.js';

function fail(what: string, cause?: unknown): never {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  throw new CsrParseError(`${what}${detail}`, cause === undefined ? undefined : { cause });
}

export interface CertificateInfo extends CertificateFingerprints {
  serialNumber: string; // lower-case hex of the INTEGER content bytes
  subject: RdnAttribute[];
  issuer: RdnAttribute[];
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
}

/**
 * Facts about a DER certificate (renewal, device identity): the one
 * certificate-facts reader. Built on cert-raw.ts (strict DER slices); the
 * codec's readCmsCertificate() is a different job (matching CMS identifiers in
 * BER messages). Throws CsrParseError when malformed.
 */
export function certificateInfo(der: Uint8Array): CertificateInfo {
  let c: ReturnType<typeof readCertificate>;
  let notBefore: Date;
  let notAfter: Date;
  try {
    c = readCertificate(der);
    notBefore = parseTime(c.notBefore);
    notAfter = parseTime(c.notAfter);
  } catch (e) {
    return fail('malformed certificate', e);
  }
  return {
    serialNumber: toHex(c.serial),
    subject: parseDnDer(c.subjectName),
    issuer: parseDnDer(c.issuerName),
    notBefore,
    notAfter,
    ...fingerprints(der),
    spki: c.spki,
  };
}

function sameName(a: Uint8Array, b: Uint8Array): boolean {
  if (Buffer.from(a).equals(Buffer.from(b))) return true;
  // Same attributes with a different string encoding still name the same CA.
  try {
    return JSON.stringify(parseDnDer(a)) === JSON.stringify(parseDnDer(b));
  } catch {
    return false;
  }
}

/**
 * True when `certDer` names `issuerDer`'s subject as its issuer and carries a
 * valid signature by `issuerDer`'s key. Validity periods are not checked.
 * Malformed input gives false.
 */
export async function verifyIssuedBy(certDer: Uint8Array, issuerDer: Uint8Array): Promise<boolean> {
  try {
    const cert = readCertificate(certDer);
    const issuer = readCertificate(issuerDer);
    if (!sameName(cert.issuerName, issuer.subjectName)) return false;
    const alg = cert.signatureAlgorithm;
    const [o, p] = children(alg, readWhole(alg, 0x30));
    if (!o || o.tag !== 0x06) return false;
    const params = p && p.tag !== 0x05 ? alg.subarray(p.start, p.end) : null;
    const key = createPublicKey({ key: Buffer.from(issuer.spki), format: 'der', type: 'spki' });
    return verifySignature(decodeOid(content(alg, o)), params, cert.tbs, cert.signature, key);
  } catch {
    return false;
  }
}
