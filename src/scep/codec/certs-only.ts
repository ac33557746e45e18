// Degenerate ("certs-only") SignedData: GetCACert answers with CA + RA
// certificates (the HTTP layer sets application/x-x509-ca-ra-cert), and the
// SUCCESS CertRep wraps the issued certificate in one.

import { childrenOf, contextChildren, isContext, isUniversal, oidOf, parseBer, rawBytes, TAG } from './ber-reader.js';
import { malformed } from './errors.js';
import { CMS } from './oids.js';
import { writeCertsOnlySignedData } from './signed-data.js';

/** DER; certificates in the given order (not DER-sorted: clients read the first as the primary one). */
export function writeCertsOnly(certs: Uint8Array[]): Uint8Array {
  if (certs.length === 0) throw new TypeError('writeCertsOnly needs at least one certificate');
  return writeCertsOnlySignedData(certs);
}

/** Certificates of any SignedData (BER accepted), in encoded order. Throws MESSAGE_MALFORMED. */
export function readCertsOnly(der: Uint8Array): Uint8Array[] {
  return readRevocationSet(der, 0);
}

/** CRLs (crls [1], X.509 CertificateLists only) of any SignedData, in encoded order: a GetCRL reply. */
export function readCrls(der: Uint8Array): Uint8Array[] {
  return readRevocationSet(der, 1);
}

/** The [0] certificates or [1] crls field's SEQUENCE elements (other choices skipped). */
function readRevocationSet(der: Uint8Array, tag: 0 | 1): Uint8Array[] {
  const contentInfo = childrenOf(parseBer(der, 'certs-only'), TAG.SEQUENCE, 'ContentInfo');
  if (oidOf(contentInfo[0], 'contentType') !== CMS.signedData) throw malformed('certs-only: not signedData');
  const [signedData] = contextChildren(contentInfo[1], 0, 'certs-only');
  const fields = childrenOf(signedData, TAG.SEQUENCE, 'SignedData');
  // version, digestAlgorithms, encapContentInfo, then the optional [0] and [1].
  const field = fields.slice(3).find((f) => isContext(f, tag));
  if (!field) return [];
  return contextChildren(field, tag, tag === 0 ? 'certificates' : 'crls')
    .filter((c) => isUniversal(c, TAG.SEQUENCE))
    .map((c) => rawBytes(c));
}
