import { Router, type Response } from 'express';
import type { Authorities } from '../ca/authorities.js';
import type { CrlPublisher } from '../ca/crl-publisher.js';
import { CA_CERT_PATH, CRL_PATH } from '../ca/publication.js';

// Unauthenticated publication for relying parties (RADIUS, VPN, Wi-Fi
// controllers): each CA's CRL and certificate, at the URLs every issued
// certificate names in its CRL Distribution Point and AIA caIssuers
// (src/ca/publication.ts). DER bodies, the media types RFC 5280 4.2.1.13 and
// 4.2.2.1 name; HEAD works as GET without a body.

/** The CA certificate never changes under its id (the id is its key identifier). */
const CA_CERT_MAX_AGE_SECONDS = 24 * 3600;

const CA_FILE = /^([0-9a-fA-F]{2,128})\.(crl|cer)$/;

export function pkiRoutes(deps: { authorities: Authorities; crls: CrlPublisher; now?: () => Date }): Router {
  const r = Router();
  const now = deps.now ?? (() => new Date());

  r.get(`${CRL_PATH}/:file`, async (req, res) => {
    const m = CA_FILE.exec(req.params.file);
    const crl = m && m[2] === 'crl' ? await deps.crls.current(m[1]!) : null;
    if (!crl) return notFound(res, 'no CRL here: the path is /pki/crl/<CA id>.crl');
    // Caches may keep it until the publisher would sign a new one anyway
    // (never past nextUpdate); a revocation is served at once to whoever asks.
    const maxAge = Math.max(0, Math.floor((crl.refreshAt.getTime() - now().getTime()) / 1000));
    res
      .type('application/pkix-crl')
      .set({
        'Cache-Control': `public, max-age=${maxAge}`,
        'Last-Modified': crl.thisUpdate.toUTCString(),
        Expires: crl.nextUpdate.toUTCString(),
        ETag: `"${crl.caId}-${crl.crlNumber}"`,
      })
      .send(Buffer.from(crl.der));
  });

  r.get(`${CA_CERT_PATH}/:file`, (req, res) => {
    const m = CA_FILE.exec(req.params.file);
    const ca = m && m[2] === 'cer' ? deps.authorities.byId(m[1]!) : undefined;
    if (!ca) return notFound(res, 'no CA certificate here: the path is /pki/ca/<CA id>.cer');
    res
      .type('application/pkix-cert')
      .set('Cache-Control', `public, max-age=${CA_CERT_MAX_AGE_SECONDS}`)
      .send(Buffer.from(ca.certificate));
  });

  r.use('/pki', (_req, res) => notFound(res, 'unknown /pki path: /pki/crl/<CA id>.crl or /pki/ca/<CA id>.cer'));
  return r;
}

function notFound(res: Response, message: string): void {
  res.status(404).type('text/plain').send(`${message}\n`);
}
