import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Request, Response } from 'express';
import type { AdapterServices } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import type { PlanGenerations } from '../../core/storage/plan-generation-store.js';

// Who sent this check-in or connect message: the Mdm-Signature header (CMS
// over the body, signer must be one of our device identity certificates), or
// else the identity certificate on the TLS connection / trusted proxy header
// (services.authenticateDevice). A message with a bad signature is refused
// even if a certificate header is present too.

/**
 * `thumbprint`: SHA-1 (hex, upper case) of the identity certificate the message came with: what identity renewal times.
 * `planGenerations`: the device's plan generations read with its identity (one statement), when they were.
 */
export type Authenticated = { device: Device; thumbprint: string | null; planGenerations?: PlanGenerations };

/** The Mdm-Signature's verdict: the signer, or the refusal (status, reason, audit reason code). */
export type SignatureVerdict = { ok: true; who: Authenticated } | { ok: false; status: 401 | 403; reason: string; reasonCode: string };

/** Verifies the Mdm-Signature over the body and that its signer is one of our devices; answers nothing. */
export async function signatureVerdict(s: AdapterServices, header: string, body: Uint8Array): Promise<SignatureVerdict> {
  // The gateway's one detached-CMS verification (src/x509/detached-signature.ts).
  const v = s.verifyDetachedSignature(header, body, 'Mdm-Signature');
  if (!v.ok) return { ok: false, status: 401, reason: v.reason, reasonCode: 'MDM_SIGNATURE_INVALID' };
  const d = await s.verifyDeviceCertificate(v.signerCertificate);
  if (!d.ok) return { ok: false, status: d.blocked ? 403 : 401, reason: d.reason, reasonCode: d.blocked ? 'DEVICE_BLOCKED' : 'MDM_SIGNER_NOT_A_DEVICE' };
  const thumbprint = createHash('sha1').update(v.signerCertificate).digest('hex').toUpperCase();
  return { ok: true, who: { device: d.device, thumbprint, ...(d.planGenerations && { planGenerations: d.planGenerations }) } };
}

// The Mdm-Signature verdict reached for a request, with the header and body it was reached for:
// when the fast path (fast-idle.ts) hands the message to the route, the route reuses it instead
// of verifying the CMS and reading the signer's identity again (issue 13: a refused message
// costs one verification, not two). Module-private and keyed by the IncomingMessage object,
// which a client cannot name; reused only for the same header and the same body bytes.
const signatureVerdicts = new WeakMap<IncomingMessage, { header: string; body: Uint8Array; verdict: SignatureVerdict }>();

/** signatureVerdict, once per request: a second ask for the same header and body gets the first answer. */
async function signatureVerdictOf(s: AdapterServices, req: IncomingMessage, header: string, body: Uint8Array): Promise<SignatureVerdict> {
  const known = signatureVerdicts.get(req);
  if (known && known.header === header && Buffer.from(known.body.buffer, known.body.byteOffset, known.body.byteLength).equals(body)) return known.verdict;
  const verdict = await signatureVerdict(s, header, body);
  signatureVerdicts.set(req, { header, body, verdict });
  return verdict;
}

/**
 * Who sent the message when it is accepted, else null: the fast path
 * (fast-idle.ts) hands a refusal to the route, which answers and audits it.
 */
export async function acceptedSender(s: AdapterServices, req: IncomingMessage, body: Uint8Array): Promise<Authenticated | null> {
  if (signed(req)) {
    const v = await signatureVerdictOf(s, req, req.headers['mdm-signature'] as string, body);
    return v.ok ? v.who : null;
  }
  return s.presentedDevice(req);
}

/** Whether the message carries an Mdm-Signature (what authenticateMessage checks first). */
export function signed(req: IncomingMessage): boolean {
  const sig = req.headers['mdm-signature'];
  return typeof sig === 'string' && sig !== '';
}

export async function authenticateMessage(s: AdapterServices, req: Request, res: Response, body: Uint8Array): Promise<Authenticated | null> {
  const sig = req.header('mdm-signature');
  if (sig) {
    const v = await signatureVerdictOf(s, req, sig, body);
    if (!v.ok) {
      await s.audit('apple.message.refused', { path: req.path, reason: v.reason }, { reasonCode: v.reasonCode });
      res.status(v.status).json({ error: v.reason });
      return null;
    }
    return v.who;
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
