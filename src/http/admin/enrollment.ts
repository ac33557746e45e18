import { Router } from 'express';
import { z } from 'zod';
import type { ChallengeMinter } from '../../core/challenge/minter.js';
import type { EnrollmentService } from '../../core/enrollment.js';
import type { IssuedCertificate } from '../../core/model.js';
import type { DirectoryStore, IssuanceStore, AuditStore } from '../../core/storage/storage.js';
import { formatDn } from '../../x509/names.js';
import { toPem } from '../../pem.js';
import { HttpError, notFound, parseBody } from '../errors.js';
import { apiDoc } from './api-doc.js';

// Challenges, certificates, enrollment timelines and approvals.

export interface EnrollmentRouteDeps {
  storage: DirectoryStore & IssuanceStore & AuditStore;
  minter: ChallengeMinter;
  enrollment: EnrollmentService;
  scepUrl: string;
}

const challengeBody = z.union(
  [z.strictObject({ profileId: z.string().uuid(), deviceId: z.string().uuid() }), z.strictObject({ profileId: z.string().uuid(), userId: z.string().uuid() })],
  { message: 'give profileId and exactly one of deviceId or userId' },
);

export function certificateView(c: IssuedCertificate) {
  const { der, ...rest } = c;
  return { ...rest, pem: toPem(der) };
}

// What GET /audit accepts (parsed by hand below, with these bounds).
const auditQuery = z.object({
  transactionId: z.string().optional().describe("one SCEP transaction's records"),
  type: z.string().optional().describe('one record type, e.g. admin.device.blocked'),
  limit: z.number().int().min(1).max(1000).default(200),
});

export function enrollmentRoutes(d: EnrollmentRouteDeps): Router {
  const r = Router();

  /** A challenge for a blocked device could only ever be refused (DEVICE_BLOCKED): say so now. */
  const refuseBlocked = async (deviceId: string | undefined) => {
    const device = deviceId === undefined ? null : await d.storage.getDevice(deviceId);
    if (device?.blockedAt) throw new HttpError(409, `device ${device.id} is blocked; unblock it first`);
    if (device?.retiredAt) throw new HttpError(409, `device ${device.id} is retired`);
    if (device?.retiringSince) throw new HttpError(409, `device ${device.id} is retiring`);
  };

  r.post('/challenges', apiDoc({ tag: 'Challenges', summary: 'Mint a one-time SCEP challenge for a profile and a target', body: challengeBody, responses: { 201: '{challenge, scepUrl, expiresAt, subject}', 400: 'not profileId and exactly one of deviceId or userId', 404: 'unknown profile or target', 409: 'the profile is not assigned to the target, or the device is blocked or retired' } }), async (req, res) => {
    const { profileId, ...ref } = parseBody(challengeBody, req.body);
    await refuseBlocked('deviceId' in ref ? ref.deviceId : undefined);
    const m = await d.minter.forProfile(profileId, ref as { deviceId: string } | { userId: string });
    if (!m.ok) throw new HttpError(m.status, m.message);
    await d.storage.appendAudit({ transactionId: null, type: 'admin.challenge.minted', reasonCode: null, actor: 'admin', details: { challengeId: m.id, profileId, ...ref } });
    res.status(201).json({ challenge: m.token, scepUrl: d.scepUrl, expiresAt: m.expiresAt.toISOString(), subject: formatDn(m.resolved.subject) });
  });

  r.post('/devices/:id/identity-challenge', apiDoc({ tag: 'Challenges', summary: "Mint a challenge for the device's identity certificate", responses: { 201: '{challenge, scepUrl, subject, expiresAt}', 404: 'unknown device', 409: 'the device is blocked or retired' } }), async (req, res) => {
    const device = await d.storage.getDevice(req.params.id);
    if (!device) throw notFound('device');
    await refuseBlocked(device.id);
    const m = await d.minter.forIdentity(device);
    if (!m.ok) throw new HttpError(m.status, m.message);
    await d.storage.appendAudit({ transactionId: null, type: 'admin.identity-challenge.minted', reasonCode: null, actor: 'admin', details: { challengeId: m.id, deviceId: device.id } });
    res.status(201).json({ challenge: m.token, scepUrl: d.scepUrl, subject: formatDn(m.resolved.subject), expiresAt: m.expiresAt.toISOString() });
  });

  // GET /certificates (filters, status, expiry, paging): certificate-reports.ts.
  r.get('/certificates/:serial', apiDoc({ tag: 'Certificates', summary: 'Read a certificate (hex serial)', responses: { 200: 'the certificate with its PEM', 404: 'unknown certificate' } }), async (req, res) => {
    const c = await d.storage.getCertificate(req.params.serial.toLowerCase());
    if (!c) throw notFound('certificate');
    res.json(certificateView(c));
  });
  // POST /certificates/:serial/revoke: revocation.ts (revokes the renewal chain too).

  r.get('/enrollments/:transactionId', apiDoc({ tag: 'Enrollments', summary: "An enrollment's status and timeline", responses: { 200: '{transactionId, status, enrollment, timeline}', 404: 'unknown transaction' } }), async (req, res) => {
    const { transactionId } = req.params;
    const [enrollment, events] = await Promise.all([d.storage.getEnrollment(transactionId), d.storage.listAudit({ transactionId })]);
    if (!enrollment && events.length === 0) throw notFound('enrollment');
    res.json({
      transactionId,
      status: enrollment?.status ?? (events.some((e) => e.reasonCode) ? 'refused' : 'received'),
      enrollment: enrollment && { ...enrollment, csrDer: undefined },
      timeline: events.map((e) => ({ at: e.at, type: e.type, reasonCode: e.reasonCode, actor: e.actor, details: e.details })),
    });
  });
  r.post('/enrollments/:transactionId/approve', apiDoc({ tag: 'Enrollments', summary: 'Approve a pending enrollment (issues the certificate)', responses: { 200: '{transactionId, status: issued}', 404: 'unknown enrollment', 409: 'the enrollment is not pending' } }), async (req, res) => {
    const result = await d.enrollment.approve(req.params.transactionId, 'admin');
    if (result === 'not-found') throw notFound('enrollment');
    if (result === 'not-pending') throw new HttpError(409, 'the enrollment is not pending');
    res.json({ transactionId: req.params.transactionId, status: 'issued' });
  });
  r.post('/enrollments/:transactionId/reject', apiDoc({ tag: 'Enrollments', summary: 'Reject a pending enrollment', responses: { 200: '{transactionId, status: rejected}', 404: 'unknown enrollment', 409: 'the enrollment is not pending' } }), async (req, res) => {
    const result = await d.enrollment.reject(req.params.transactionId, 'admin');
    if (result === 'not-found') throw notFound('enrollment');
    if (result === 'not-pending') throw new HttpError(409, 'the enrollment is not pending');
    res.json({ transactionId: req.params.transactionId, status: 'rejected' });
  });

  r.get('/audit', apiDoc({ tag: 'Audit', summary: 'Audit records, newest last', query: auditQuery, responses: { 200: 'the audit records', 400: 'limit is not 1..1000' } }), async (req, res) => {
    const transactionId = typeof req.query.transactionId === 'string' ? req.query.transactionId : undefined;
    const type = typeof req.query.type === 'string' ? req.query.type : undefined;
    const limit = req.query.limit === undefined ? 200 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, 'limit must be 1..1000');
    res.json(await d.storage.listAudit({ transactionId, type, limit }));
  });

  return r;
}
