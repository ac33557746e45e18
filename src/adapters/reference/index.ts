import express, { Router } from 'express';
import { z } from 'zod';
import type { AdapterServices, PlatformAdapter } from '../../core/adapter.js';
import { PLATFORMS } from '../../core/model.js';
import { renderReference, type ReferencePayload } from './render.js';

// A tiny adapter used by the tests and as the template in docs/adapters.md:
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

export const referenceAdapter: PlatformAdapter<ReferencePayload> = {
  name: 'reference',
  platforms: PLATFORMS,
  render: renderReference,
  routes(s: AdapterServices): Router {
    const r = Router();
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
        res.status(400).json({ error: 'invalid report', issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
        return;
      }
      await s.report(res.locals.device!, parsed.data);
      res.status(204).end();
    });
    return r;
  },
};
