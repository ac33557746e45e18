import express, { Router } from 'express';
import { z } from 'zod';
import type { AdapterServices, Refusal } from '../../core/adapter.js';
import { fieldIssues } from '../../core/field-issues.js';
import { DELIVERY_STATES, PLATFORMS, type Platform } from '../../core/model.js';
import { enrollError } from './error-codes.js';
import { renderReference } from './render.js';
import { loadState, saveState } from './state.js';

// The device-facing routes, under /<adapter name>/v1:
//   POST enroll[?token=]  {token?, platform, name, csr} -> device identity certificate
//   GET  payload          (identity certificate) -> rendered deliveries (the check-in)
//   POST report           (identity certificate) -> per-profile result
// Thin: parse, call the kit (AdapterServices), answer. Every body is bounded
// and strictly parsed; every refusal has a status and a reason.

const ENROLL_BODY_BYTES = 32_768;
const REPORT_BODY_BYTES = 4_096;

const reportBody = z.strictObject({
  profileId: z.string().uuid(),
  profileVersion: z.number().int().positive(),
  state: z.enum(DELIVERY_STATES),
  thumbprint: z.string().regex(/^[0-9A-Fa-f]{40}$/).optional(),
  errorCode: z.string().max(64).optional(),
  detail: z.string().max(512).optional(),
});

const enrollBody = z.strictObject({
  /** The one-time token; may come in the enrollmentUrl's query instead. */
  token: z.string().min(1).max(128).optional(),
  platform: z.enum(PLATFORMS),
  name: z.string().min(1).max(256),
  /** base64 DER PKCS#10 for the device identity certificate. */
  csr: z.string().base64().max(16_384),
});

export interface ReferenceRouteOptions {
  /** The adapter's name: the URL prefix. */
  name: string;
  platforms: readonly Platform[];
  now: () => Date;
}

export function referenceRoutes(s: AdapterServices, o: ReferenceRouteOptions): Router {
  const r = Router();
  const base = `/${o.name}/v1`;

  r.post(`${base}/enroll`, express.json({ limit: ENROLL_BODY_BYTES }), async (req, res) => {
    const parsed = enrollBody.safeParse(req.body);
    const token = parsed.success ? (parsed.data.token ?? (typeof req.query.token === 'string' ? req.query.token : undefined)) : undefined;
    if (!parsed.success || !token) {
      res.status(400).json({ error: 'invalid enrollment', issues: parsed.success ? [{ path: 'token', message: 'required (body or ?token=)' }] : fieldIssues(parsed.error) });
      return;
    }
    const b = parsed.data;
    if (!o.platforms.includes(b.platform)) {
      res.status(400).json({ error: `platform ${b.platform} is not served here`, reason: 'platform-not-served' });
      return;
    }
    const csr = Buffer.from(b.csr, 'base64');
    // The kit checks everything, then spends the token, then finds or creates the device: the CSR
    // precheck runs before the spend, so a CSR that cannot be certified burns nothing.
    const redeemed = await s.redeemEnrollmentToken<Refusal>(token, {
      platforms: [b.platform],
      check: async () => {
        const refusal = await s.precheckIdentityCsr(csr);
        if (refusal) return { refuse: refusal };
      },
      reported: { name: b.name },
    });
    if (!redeemed.ok) {
      const e = enrollError(redeemed);
      await s.audit(`${o.name}.enroll.refused`, { reason: e.body.reason, tokenId: redeemed.token?.id ?? null });
      res.status(e.status).json(e.body);
      return;
    }
    const { device } = redeemed;
    const issued = await s.issueIdentityCertificate(device, csr);
    if (!issued.ok) {
      // Core audited it (identity.refused); a CA failure is ours, not the request's.
      res.status(issued.refusal.code === 'INTERNAL_ERROR' ? 503 : 400).json({ error: issued.refusal.code, reason: issued.refusal.code });
      return;
    }
    await s.audit(`${o.name}.enrolled`, { deviceId: device.id, tokenId: redeemed.token.id, created: redeemed.created }, { deviceId: device.id });
    res.status(201).json({ deviceId: device.id, certificate: Buffer.from(issued.identity.certificate).toString('base64') });
  });

  // authenticateDevice is bound to this adapter's platforms: another platform's device gets 403 here.
  r.get(`${base}/payload`, s.authenticateDevice, async (_req, res) => {
    const device = res.locals.device!;
    const deliveries = await s.deliveriesFor(device);
    const state = await loadState(s, device.id);
    await saveState(s, device.id, { lastCheckinAt: o.now().toISOString(), checkins: state.checkins + 1 });
    res.json({
      deviceId: device.id,
      items: deliveries.flatMap((d) => (d.ok ? [renderReference(device, d)] : [])),
      errors: deliveries.flatMap((d) => (d.ok ? [] : [{ profileId: d.profile.id, ...d.error }])),
    });
  });

  r.post(`${base}/report`, s.authenticateDevice, express.json({ limit: REPORT_BODY_BYTES }), async (req, res) => {
    const parsed = reportBody.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: 'invalid report', issues: fieldIssues(parsed.error) });
      return;
    }
    await s.report(res.locals.device!, parsed.data);
    res.status(204).end();
  });
  return r;
}
