import express, { Router } from 'express';
import { z } from 'zod';
import type { AdapterServices, PlatformAdapter } from '../../core/adapter.js';
import { fieldIssues } from '../../core/field-issues.js';
import { PLATFORMS } from '../../core/model.js';
import { renderReference, type ReferencePayload } from './render.js';

// A tiny adapter used by the tests and as the template in docs/adapters.md:
//   POST /reference/v1/enroll   {token, platform, name, csr} -> device identity certificate
//   GET  /reference/v1/payload  (device-authenticated) -> rendered deliveries
//   POST /reference/v1/report   (device-authenticated) -> per-profile result

const reportBody = z.strictObject({
  profileId: z.string().uuid(),
  profileVersion: z.number().int().positive(),
  state: z.enum(['pending', 'enrolling', 'installed', 'failed']),
  thumbprint: z.string().regex(/^[0-9A-Fa-f]{40}$/).optional(),
  errorCode: z.string().max(64).optional(),
  detail: z.string().max(512).optional(),
});

const enrollBody = z.strictObject({
  token: z.string().min(1).max(128),
  platform: z.enum(PLATFORMS),
  name: z.string().min(1).max(256),
  /** base64 DER PKCS#10 for the device identity certificate. */
  csr: z.string().base64().max(16_384),
});

export const referenceAdapter: PlatformAdapter<ReferencePayload> = {
  name: 'reference',
  platforms: PLATFORMS,
  render: renderReference,
  enrollmentUrl: (token, publicUrl) => `${publicUrl}/reference/v1/enroll?token=${encodeURIComponent(token)}`,
  routes(s: AdapterServices): Router {
    const r = Router();
    r.post('/reference/v1/enroll', express.json(), async (req, res) => {
      const parsed = enrollBody.safeParse(req.body);
      if (!parsed.success) {
        res.status(400).json({ error: 'invalid enrollment', issues: fieldIssues(parsed.error) });
        return;
      }
      const b = parsed.data;
      const spent = await s.consumeEnrollmentToken(b.token, b.platform);
      if (!spent.ok) {
        res.status(spent.reason === 'device-blocked' ? 403 : 401).json({ error: spent.reason === 'device-blocked' ? 'DEVICE_BLOCKED' : `enrollment token ${spent.reason}` });
        return;
      }
      const t = spent.token;
      const device = t.deviceId ? await s.devices.get(t.deviceId) : await s.devices.create({ platform: b.platform, userId: t.userId, reported: { name: b.name } });
      if (!device) {
        res.status(409).json({ error: 'the device this token was made for no longer exists' });
        return;
      }
      const issued = await s.issueIdentityCertificate(device, Buffer.from(b.csr, 'base64'));
      if (!issued.ok) {
        res.status(400).json({ error: issued.refusal.code });
        return;
      }
      res.status(201).json({ deviceId: device.id, certificate: Buffer.from(issued.identity.certificate).toString('base64') });
    });
    r.get('/reference/v1/payload', s.authenticateDevice, async (_req, res) => {
      const device = res.locals.device!;
      const deliveries = await s.deliveriesFor(device);
      res.json({
        deviceId: device.id,
        items: deliveries.flatMap((d) => (d.ok ? [renderReference(device, d)] : [])),
        errors: deliveries.flatMap((d) => (d.ok ? [] : [{ profileId: d.profile.id, ...d.error }])),
      });
    });
    r.post('/reference/v1/report', s.authenticateDevice, express.json(), async (req, res) => {
      const parsed = reportBody.safeParse(req.body);
      if (!parsed.success) {
        res.status(400).json({ error: 'invalid report', issues: fieldIssues(parsed.error) });
        return;
      }
      await s.report(res.locals.device!, parsed.data);
      res.status(204).end();
    });
    return r;
  },
};
