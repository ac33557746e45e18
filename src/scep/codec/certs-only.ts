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
  const contentInfo = childrenOf(parseBer(der, 'certs-only'), TAG.SEQUENCE, 'ContentInfo');
  if (oidOf(contentInfo[0], 'contentType') !== CMS.signedData) throw malformed('certs-only: not signedData');
  const [signedData] = contextChildren(contentInfo[1], 0, 'certs-only');
  const fields = childrenOf(signedData, TAG.SEQUENCE, 'SignedData');
  const certificates = fields[3];
  if (!isContext(certificates, 0)) return [];
  return contextChildren(certificates, 0, 'certificates')
    .filter((c) => isUniversal(c, TAG.SEQUENCE))
    .map((c) => rawBytes(c));
}
