import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import type { AdapterServices } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';

// Who sent this check-in or connect message: the Mdm-Signature header (CMS
// over the body, signer must be one of our device identity certificates), or
// else the identity certificate on the TLS connection / trusted proxy header
// (services.authenticateDevice). A message with a bad signature is refused
// even if a certificate header is present too.

/** SHA-1 thumbprint (hex, upper case) of the identity certificate the message came with: what identity renewal times. */
export type Authenticated = { device: Device; thumbprint: string | null };

export async function authenticateMessage(s: AdapterServices, req: Request, res: Response, body: Uint8Array): Promise<Authenticated | null> {
  const sig = req.header('mdm-signature');
  if (sig) {
    // The gateway's one detached-CMS verification (src/x509/detached-signature.ts).
    const v = s.verifyDetachedSignature(sig, body, 'Mdm-Signature');
    if (!v.ok) {
      await s.audit('apple.message.refused', { path: req.path, reason: v.reason }, { reasonCode: 'MDM_SIGNATURE_INVALID' });
      res.status(401).json({ error: v.reason });
      return null;
    }
    const d = await s.verifyDeviceCertificate(v.signerCertificate);
    if (!d.ok) {
      await s.audit('apple.message.refused', { path: req.path, reason: d.reason }, { reasonCode: d.blocked ? 'DEVICE_BLOCKED' : 'MDM_SIGNER_NOT_A_DEVICE' });
      res.status(d.blocked ? 403 : 401).json({ error: d.reason });
      return null;
    }
    return { device: d.device, thumbprint: createHash('sha1').update(v.signerCertificate).digest('hex').toUpperCase() };
  }
  let passed = false;
  await Promise.resolve(
    s.authenticateDevice(req, res, () => {
      passed = true;
    }),
  );
  if (!passed || !res.locals.device) return null;
  return { device: res.locals.device, thumbprint: (await s.presentedDevice(req))?.thumbprint ?? null };
}
