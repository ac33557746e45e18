// Where relying parties find revocation status and the issuer's certificate:
// the URLs every certificate we issue carries (CRL Distribution Point, AIA
// OCSP and caIssuers) and the paths the gateway serves them at. One place, so
// the extensions and the routes cannot disagree.

/** GET <CRL_PATH>/<caId>.crl: the CA's CRL (DER). */
export const CRL_PATH = '/pki/crl';
/** GET <CA_CERT_PATH>/<caId>.cer: the CA's certificate (DER), the AIA caIssuers target. */
export const CA_CERT_PATH = '/pki/ca';
/** The OCSP responder (POST /ocsp, GET /ocsp/<base64>). */
export const OCSP_PATH = '/ocsp';

export interface Publication {
  /** The CDP of a certificate signed by CA `id` is `${crlBaseUrl}/${id}.crl`. */
  crlBaseUrl: string;
  /** Its AIA caIssuers is `${caCertBaseUrl}/${id}.cer`. */
  caCertBaseUrl: string;
  /** Its AIA OCSP URL, the same for every CA. */
  ocspUrl: string;
}

export interface PublicationUrls {
  crl: string;
  caIssuers: string;
  ocsp: string;
}

const trimSlash = (u: string): string => u.replace(/\/+$/, '');

/**
 * The defaults live under the public URL; `crlUrl` (a base URL) and `ocspUrl`
 * (the full URL) override them for relying parties that reach the gateway on
 * another name. caIssuers stays under the public URL: see docs/revocation.md.
 */
export function publicationFor(publicUrl: string, overrides: { crlUrl?: string; ocspUrl?: string } = {}): Publication {
  const base = trimSlash(publicUrl);
  return {
    crlBaseUrl: trimSlash(overrides.crlUrl ?? `${base}${CRL_PATH}`),
    caCertBaseUrl: `${base}${CA_CERT_PATH}`,
    ocspUrl: overrides.ocspUrl ?? `${base}${OCSP_PATH}`,
  };
}

export function publicationUrls(p: Publication, caId: string): PublicationUrls {
  return { crl: `${p.crlBaseUrl}/${caId}.crl`, caIssuers: `${p.caCertBaseUrl}/${caId}.cer`, ocsp: p.ocspUrl };
}
