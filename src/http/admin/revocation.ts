import { Router } from 'express';
import { z } from 'zod';
import { END_ENTITY_REVOCATION_REASONS, type RevocationReason } from '../../core/model.js';
import type { DirectoryStore, IssuanceStore, AuditStore } from '../../core/storage/storage.js';
import { HttpError, notFound, parseBody } from '../errors.js';
import { apiDoc } from './api-doc.js';
import { certificateView } from './enrollment.js';

// Revoking certificates and blocking devices (security issue #15, S5).
//
// Revoking a certificate revokes every certificate renewed from it,
// transitively, in one transaction: a renewal obtained before the revocation
// must not outlive it. Blocking a device revokes all its certificates and
// makes every device route and every issuance refuse it until it is unblocked.

/**
 * Why a blocked device's certificates are revoked, unless the admin says
 * otherwise (e.g. keyCompromise for a stolen device). Not certificateHold:
 * unblocking does not bring them back, the device enrolls again.
 */
export const BLOCK_REVOCATION_REASON: RevocationReason = 'cessationOfOperation';

export const reasonBody = (fallback: RevocationReason) =>
  z.strictObject({
    reason: z
      .enum(END_ENTITY_REVOCATION_REASONS, { message: `reason must be one of ${END_ENTITY_REVOCATION_REASONS.join(', ')} (RFC 5280 CRLReason)` })
      .default(fallback as (typeof END_ENTITY_REVOCATION_REASONS)[number]),
  });

export function revocationRoutes(storage: DirectoryStore & IssuanceStore & AuditStore): Router {
  const r = Router();

  r.post('/certificates/:serial/revoke', apiDoc({ tag: 'Certificates', summary: 'Revoke a certificate and every renewal of it', body: reasonBody('unspecified'), bodyRequired: false, responses: { 200: 'the certificate plus revoked: [serial...]', 400: 'reason is not a revocation reason', 404: 'unknown certificate', 409: 'already revoked' } }), async (req, res) => {
    const serial = req.params.serial.toLowerCase();
    const { reason } = parseBody(reasonBody('unspecified'), req.body);
    const result = await storage.revokeCertificateChain(serial, new Date().toISOString(), reason);
    if (!result.ok && result.reason === 'not-found') throw notFound('certificate');
    if (!result.ok) throw new HttpError(409, `certificate ${serial} is already revoked`);
    await storage.appendAudit({
      transactionId: null,
      type: 'admin.certificate.revoked',
      reasonCode: null,
      actor: 'admin',
      details: { serialNumber: serial, reason, revoked: result.revoked },
    });
    res.json({ ...certificateView((await storage.getCertificate(serial))!), revoked: result.revoked });
  });

  r.post('/devices/:id/block', apiDoc({ tag: 'Directory', summary: 'Block a device: revoke its certificates, refuse it until unblocked', body: reasonBody(BLOCK_REVOCATION_REASON), bodyRequired: false, responses: { 200: '{device, revoked: [serial...]}', 400: 'reason is not a revocation reason', 404: 'unknown device', 409: 'already blocked' } }), async (req, res) => {
    const { reason } = parseBody(reasonBody(BLOCK_REVOCATION_REASON), req.body);
    const result = await storage.blockDevice(req.params.id, new Date().toISOString(), reason);
    if (!result.ok && result.reason === 'not-found') throw notFound('device');
    if (!result.ok) throw new HttpError(409, 'the device is already blocked');
    await storage.appendAudit({
      transactionId: null,
      type: 'admin.device.blocked',
      reasonCode: null,
      actor: 'admin',
      details: { deviceId: result.device.id, reason, revoked: result.revoked },
    });
    res.json({ device: result.device, revoked: result.revoked });
  });

  r.post('/devices/:id/unblock', apiDoc({ tag: 'Directory', summary: 'Unblock a device (its revoked certificates stay revoked)', body: z.strictObject({}), bodyRequired: false, responses: { 200: '{device}', 400: 'the body is not empty', 404: 'unknown device', 409: 'not blocked' } }), async (req, res) => {
    parseBody(z.strictObject({}), req.body);
    const result = await storage.unblockDevice(req.params.id);
    if (!result.ok && result.reason === 'not-found') throw notFound('device');
    if (!result.ok) throw new HttpError(409, 'the device is not blocked');
    await storage.appendAudit({ transactionId: null, type: 'admin.device.unblocked', reasonCode: null, actor: 'admin', details: { deviceId: result.device.id } });
    res.json({ device: result.device });
  });

  return r;
}
