import { Router } from 'express';
import { z } from 'zod';
import type { GatewayHealth } from '../gateway-health.js';
import { apiDoc } from './admin/api-doc.js';

// GET /readyz (no token, both listeners): 200 when this instance can serve,
// 503 otherwise, each check in the body. GET /health (under /api/v1, admin
// token): every part's state; 503 when any part is in error, so a plain HTTP
// monitor alerts without parsing the body.

export function readinessRoutes(health: GatewayHealth): Router {
  const r = Router();
  r.get('/readyz', async (_req, res) => {
    const { ready, checks } = await health.readiness();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
  });
  return r;
}

export function healthReportRoutes(health: GatewayHealth): Router {
  const r = Router();
  r.get('/health', apiDoc({ tag: 'Health', summary: "Every part's state: database, CA, RA, keys, SCEP URLs, clock, adapters", responses: { 200: '{status: ok | warning, checkedAt, components}', 503: { description: '{status: error, ...}: a component is in error', schema: z.object({ status: z.literal('error') }).loose() } } }), async (_req, res) => {
    const report = await health.report();
    res.status(report.status === 'error' ? 503 : 200).json(report);
  });
  return r;
}
