import { X509Certificate, createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { NextFunction, Request, Response } from 'express';
import type { Device } from '../core/model.js';
import type { Storage } from '../core/storage/storage.js';
import type { Logger } from '../log.js';

// Device check-ins are authenticated by the device identity certificate our
// CA issued (POST /api/v1/devices/:id/identity-challenge, then SCEP). The
// certificate arrives either on our own TLS connection (--tls-cert/--tls-key,
// client certificate requested) or from a trusted TLS-terminating proxy in the
// header named by MDMGW_CLIENT_CERT_HEADER as URL-encoded PEM (nginx's
// $ssl_client_escaped_cert). The header is ignored unless that is configured,
// so a client cannot claim an identity by sending it.

export interface IdentityOptions {
  storage: Storage;
  caCertificate: Uint8Array;
  clientCertHeader: string | undefined;
  log: Logger;
}

export type IdentityResult = { ok: true; device: Device; serialNumber: string } | { ok: false; reason: string };

declare module 'express-serve-static-core' {
  interface Locals {
    device?: Device;
  }
}

export function createDeviceAuthenticator(o: IdentityOptions) {
  const ca = new X509Certificate(o.caCertificate);
  const caKey = ca.publicKey;

  /** Verifies a presented certificate: ours, unexpired, not revoked, one device. */
  async function verify(der: Uint8Array, now = new Date()): Promise<IdentityResult> {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch {
      return { ok: false, reason: 'client certificate does not parse' };
    }
    if (!cert.checkIssued(ca) || !cert.verify(caKey)) return { ok: false, reason: 'client certificate is not issued by this gateway CA' };
    if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) return { ok: false, reason: 'client certificate is expired or not yet valid' };
    const serialNumber = cert.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
    const record = await o.storage.getCertificate(serialNumber);
    const sha256 = createHash('sha256').update(der).digest('hex');
    if (!record || record.sha256 !== sha256) return { ok: false, reason: 'client certificate is not in the issuance record' };
    if (record.kind !== 'identity') return { ok: false, reason: 'client certificate is not a device identity certificate' };
    if (record.revokedAt) return { ok: false, reason: 'client certificate is revoked' };
    const device = record.deviceId ? await o.storage.getDevice(record.deviceId) : null;
    if (!device) return { ok: false, reason: 'client certificate maps to no device' };
    return { ok: true, device, serialNumber };
  }

  function presented(req: Request): Uint8Array | null {
    const socket = req.socket as Partial<TLSSocket>;
    if (typeof socket.getPeerCertificate === 'function') {
      // We terminate TLS ourselves: only the certificate the client proved it
      // holds the key for counts. A header here would come from the client.
      const peer = socket.getPeerCertificate(false);
      return peer && peer.raw ? peer.raw : null;
    }
    if (!o.clientCertHeader) return null;
    const h = req.headers[o.clientCertHeader.toLowerCase()];
    if (typeof h !== 'string' || h === '') return null;
    let pem: string;
    try {
      pem = decodeURIComponent(h);
    } catch {
      return null;
    }
    const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
    return m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : null;
  }

  /** Express middleware: sets res.locals.device or answers 401 with the reason. */
  const middleware = async (req: Request, res: Response, next: NextFunction) => {
    const der = presented(req);
    if (!der) {
      res.status(401).json({ error: 'device identity certificate required' });
      return;
    }
    const r = await verify(der);
    if (!r.ok) {
      o.log.warn({ path: req.path, reason: r.reason }, 'device authentication failed');
      res.status(401).json({ error: r.reason });
      return;
    }
    res.locals.device = r.device;
    next();
  };

  // presented: for routes where a certificate is optional (Windows re-enrollment proves the device with it).
  return { verify, middleware, presented };
}
