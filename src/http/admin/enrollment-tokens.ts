import { Router } from 'express';
import { z } from 'zod';
import type { PlatformAdapter } from '../../core/adapter.js';
import { DEFAULT_TOKEN_TTL_MINUTES, type EnrollmentTokens } from '../../core/enrollment-tokens.js';
import { PLATFORMS } from '../../core/model.js';
import type { DirectoryStore, AuditStore } from '../../core/storage/storage.js';
import { HttpError, notFound, parseBody } from '../errors.js';
import { apiDoc } from './api-doc.js';

// POST /api/v1/enrollment-tokens: the same contract on every platform. The
// answer's enrollmentUrl is what the admin hands the user; the adapter that
// serves the platform decides what it is.

const body = z.union(
  [
    z.strictObject({ userId: z.string().uuid(), platform: z.enum(PLATFORMS), expiresInMinutes: z.number().int().min(5).max(30 * 24 * 60).optional() }),
    z.strictObject({ deviceId: z.string().uuid(), platform: z.enum(PLATFORMS), expiresInMinutes: z.number().int().min(5).max(30 * 24 * 60).optional() }),
  ],
  { message: `give platform (${PLATFORMS.join(', ')}) and exactly one of userId or deviceId; expiresInMinutes is optional (5..43200)` },
);

export function enrollmentTokenRoutes(d: { storage: DirectoryStore & AuditStore; tokens: EnrollmentTokens; adapters: PlatformAdapter[]; publicUrl: string }): Router {
  const r = Router();
  r.post('/enrollment-tokens', apiDoc({ tag: 'Enrollment tokens', summary: 'Create a one-time enrollment token for a user or a device', body, responses: { 201: '{id, token, platform, userId, deviceId, expiresAt, enrollmentUrl}', 400: 'invalid body, or the device is of another platform', 404: 'unknown user or device', 409: 'no adapter serves the platform, or the device is blocked or retired' } }), async (req, res) => {
    const b = parseBody(body, req.body);
    const adapter = d.adapters.find((a) => a.platforms.includes(b.platform));
    if (!adapter) throw new HttpError(409, `no adapter for platform ${b.platform} is enabled in this gateway`);
    let userId: string | null = null;
    let deviceId: string | null = null;
    if ('userId' in b) {
      if (!(await d.storage.getUser(b.userId))) throw notFound('user');
      userId = b.userId;
    } else {
      const device = await d.storage.getDevice(b.deviceId);
      if (!device) throw notFound('device');
      if (device.platform !== b.platform) throw new HttpError(400, `platform: the device is ${device.platform}, not ${b.platform}`);
      // Every use of it would be refused (DEVICE_BLOCKED): say so now rather than hand out a dead token.
      if (device.blockedAt) throw new HttpError(409, `device ${device.id} is blocked; unblock it first`);
      if (device.retiredAt || device.retiringSince) throw new HttpError(409, `device ${device.id} is retired: enroll it as a new device`);
      deviceId = device.id;
      userId = device.userId;
    }
    const { token, record } = await d.tokens.create({ platform: b.platform, userId, deviceId, ttlMinutes: b.expiresInMinutes ?? DEFAULT_TOKEN_TTL_MINUTES });
    await d.storage.appendAudit({ transactionId: null, type: 'admin.enrollment-token.created', reasonCode: null, actor: 'admin', details: { id: record.id, platform: b.platform, userId, deviceId, expiresAt: record.expiresAt } });
    res.status(201).json({ id: record.id, token, platform: b.platform, userId, deviceId, expiresAt: record.expiresAt, enrollmentUrl: adapter.enrollmentUrl(token, d.publicUrl) });
  });
  return r;
}
