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
import { DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE, decodeAuditCursor, encodeAuditCursor, linkNextPage } from './list-pages.js';
import { IssuanceRefused } from '../../core/issuer.js';

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
  limit: z.number().int().min(1).max(MAX_AUDIT_PAGE).default(DEFAULT_AUDIT_PAGE),
  before: z.string().optional().describe('the X-Next-Cursor of the previous page: the records before it'),
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
  r.post('/enrollments/:transactionId/approve', apiDoc({ tag: 'Enrollments', summary: 'Approve a pending enrollment (issues the certificate)', responses: { 200: '{transactionId, status: issued}', 202: '{transactionId, status: pending}: the upstream CA answered PENDING', 502: 'the upstream CA refused or could not be asked (still pending)', 404: 'unknown enrollment', 409: 'the enrollment is not pending' } }), async (req, res) => {
    const result = await d.enrollment.approve(req.params.transactionId, 'admin').catch((e: unknown) => {
      // The profile's upstream CA refused or could not be asked: nothing was recorded, the enrollment stays pending.
      if (e instanceof IssuanceRefused) throw new HttpError(502, `upstream CA ${e.upstream} did not issue: ${e.message}`);
      throw e;
    });
    if (result === 'not-found') throw notFound('enrollment');
    if (result === 'not-pending') throw new HttpError(409, 'the enrollment is not pending');
    // The profile's upstream CA answered PENDING: still pending, polled there (docs/upstream-ca.md).
    if (result === 'forwarded') return void res.status(202).json({ transactionId: req.params.transactionId, status: 'pending' });
    res.json({ transactionId: req.params.transactionId, status: 'issued' });
  });
  r.post('/enrollments/:transactionId/reject', apiDoc({ tag: 'Enrollments', summary: 'Reject a pending enrollment', responses: { 200: '{transactionId, status: rejected}', 404: 'unknown enrollment', 409: 'the enrollment is not pending' } }), async (req, res) => {
    const result = await d.enrollment.reject(req.params.transactionId, 'admin');
    if (result === 'not-found') throw notFound('enrollment');
    if (result === 'not-pending') throw new HttpError(409, 'the enrollment is not pending');
    res.json({ transactionId: req.params.transactionId, status: 'rejected' });
  });

  r.get('/audit', apiDoc({ tag: 'Audit', summary: 'Audit records, the newest page first, each page oldest to newest (X-Next-Cursor: pass it as before for the older page)', query: auditQuery, responses: { 200: 'the audit records', 400: 'limit is not 1..1000, or before is not a cursor this API returned' } }), async (req, res) => {
    const transactionId = typeof req.query.transactionId === 'string' ? req.query.transactionId : undefined;
    const type = typeof req.query.type === 'string' ? req.query.type : undefined;
    const limit = req.query.limit === undefined ? DEFAULT_AUDIT_PAGE : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) throw new HttpError(400, `limit must be 1..${MAX_AUDIT_PAGE}`);
    const before = req.query.before;
    if (before !== undefined && (typeof before !== 'string' || before.length > 512)) throw new HttpError(400, 'invalid query', [{ path: 'before', message: 'the before value is not a cursor this API returned' }]);
    const beforeId = before === undefined ? undefined : decodeAuditCursor(before);
    // One more than the page, oldest first: if it came back, older records exist and the page starts after it.
    const rows = await d.storage.listAudit({ transactionId, type, limit: limit + 1, ...(beforeId !== undefined && { beforeId }) });
    const page = rows.length > limit ? rows.slice(1) : rows;
    if (rows.length > limit) linkNextPage(req, res, 'before', encodeAuditCursor(page[0]!));
    res.json(page);
  });

  return r;
}
