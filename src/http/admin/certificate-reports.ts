import { Router, type Request } from 'express';
import { z } from 'zod';
import { devicesForTargets } from '../../core/affected-devices.js';
import { fieldIssues } from '../../core/field-issues.js';
import { DELIVERY_STATES, type DeliveryState } from '../../core/model.js';
import { CERTIFICATE_STATUSES, type CertificateFilter, type CertificatePosition, type CertificateExpiryPosition, type ProfileStore, type AssignmentStore, type IssuanceStore, type DeliveryStore, type DirectoryStore } from '../../core/storage/storage.js';
import { HttpError, notFound } from '../errors.js';
import { apiDoc } from './api-doc.js';
import { decodePageCursor, encodePageCursor } from './page-cursor.js';
import { certificateView } from './enrollment.js';

// Certificate reports (lifecycle issue #9, item 5): the certificate list by
// status and expiry, paged, and one profile's delivery and certificate counts.
// Filtering happens in storage (indexed by migration 0008), never over every row here.

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** Expiry window of a profile report unless `expiringWithinDays` says otherwise. */
export const DEFAULT_EXPIRING_DAYS = 30;
const MAX_DAYS = 3650;
const DAY_MS = 86_400_000;

/** A whole number from a query string (`?limit=10`), refusing `1.5`, `1e3`, ``, and repeated parameters. */
const wholeNumber = (name: string, min: number, max: number) =>
  z
    .string({ message: `${name} must be given once` })
    .regex(/^\d{1,6}$/, `${name} must be a whole number ${min}..${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${name} must be a whole number ${min}..${max}`)
    // The bounds live in the refinement, which JSON Schema cannot carry: the OpenAPI document says them here.
    .describe(`a whole number ${min}..${max}`);

const uuid = (name: string) => z.string({ message: `${name} must be given once` }).uuid(`${name} must be a UUID`);

const listQuery = z
  .strictObject({
    deviceId: uuid('deviceId').optional(),
    userId: uuid('userId').optional(),
    profileId: uuid('profileId').optional(),
    status: z.enum(CERTIFICATE_STATUSES, { message: `status must be one of ${CERTIFICATE_STATUSES.join(', ')}` }).optional(),
    expiringWithinDays: wholeNumber('expiringWithinDays', 0, MAX_DAYS).optional(),
    limit: wholeNumber('limit', 1, MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
    cursor: z.string({ message: 'cursor must be given once' }).max(512, 'cursor is not one this API returned').optional(),
  })
  .refine((q) => q.expiringWithinDays === undefined || q.status === undefined || q.status === 'valid', {
    message: 'expiringWithinDays lists valid certificates: leave status out or set it to valid',
    path: ['status'],
  });

const reportQuery = z.strictObject({ expiringWithinDays: wholeNumber('expiringWithinDays', 0, MAX_DAYS).optional() });

function parseQuery<T extends z.ZodType>(schema: T, query: unknown): z.infer<T> {
  const r = schema.safeParse(query);
  if (!r.success) throw new HttpError(400, 'invalid query', fieldIssues(r.error));
  return r.data;
}

/** Opaque to clients: the last row's sort key, so the next page starts right after it whatever was inserted since. */
export function encodeCursor(p: CertificatePosition): string {
  return encodePageCursor(p.issuedAt, p.serialNumber);
}

export function decodeCursor(cursor: string): CertificatePosition {
  const [issuedAt, serialNumber] = decodePageCursor(cursor, 'cursor', /^[0-9a-f]{1,64}$/);
  return { issuedAt, serialNumber };
}

/** The expiry report's cursor: (notAfter, serial), tagged so an issue-order cursor is refused there and back. */
export function encodeExpiryCursor(c: { notAfter: string; serialNumber: string }): string {
  return encodePageCursor(c.notAfter, c.serialNumber, 'expiry');
}

export function decodeExpiryCursor(cursor: string): CertificateExpiryPosition {
  const [notAfter, serialNumber] = decodePageCursor(cursor, 'cursor', /^[0-9a-f]{1,64}$/, 'expiry');
  return { notAfter, serialNumber };
}

/** The same request with the next page's cursor, for the Link header. */
function nextLink(req: Request, cursor: string): string {
  const url = new URL(req.originalUrl, 'http://gateway.invalid');
  url.searchParams.set('cursor', cursor);
  return `${url.pathname}${url.search}`;
}

export function certificateReportRoutes(storage: DirectoryStore & ProfileStore & AssignmentStore & IssuanceStore & DeliveryStore): Router {
  const r = Router();

  /**
   * An array, as before paging existed; the next page's cursor comes in the
   * X-Next-Cursor header and a Link rel="next" (absent on the last page).
   */
  r.get('/certificates', apiDoc({ tag: 'Certificates', summary: 'List certificates, filtered and paged (X-Next-Cursor, Link rel=next)', query: listQuery, responses: { 200: 'one page of certificates in issue order (with expiringWithinDays: in expiry order, soonest first)', 400: 'invalid query: issues name each parameter' } }), async (req, res) => {
    const q = parseQuery(listQuery, req.query);
    const now = new Date();
    const filter: CertificateFilter = {
      ...(q.deviceId && { deviceId: q.deviceId }),
      ...(q.userId && { userId: q.userId }),
      ...(q.profileId && { profileId: q.profileId }),
      ...(q.status && { status: q.status }),
      ...(q.expiringWithinDays !== undefined && { status: 'valid', notAfterUntil: new Date(now.getTime() + q.expiringWithinDays * DAY_MS).toISOString() }),
      // The expiry report pages in expiry order (soonest first): the order its index serves (0020), no sort of the range.
      ...(q.expiringWithinDays !== undefined && { order: 'expiry' }),
      ...(q.cursor !== undefined && (q.expiringWithinDays === undefined ? { after: decodeCursor(q.cursor) } : { afterExpiry: decodeExpiryCursor(q.cursor) })),
      asOf: now.toISOString(),
      // One more than the page: whether it exists decides the next cursor.
      limit: q.limit + 1,
    };
    const rows = await storage.listCertificates(filter);
    const page = rows.slice(0, q.limit);
    if (rows.length > q.limit) {
      const last = page[page.length - 1]!;
      const cursor = filter.order === 'expiry' ? encodeExpiryCursor(last) : encodeCursor({ issuedAt: last.issuedAt, serialNumber: last.serialNumber });
      res.set('X-Next-Cursor', cursor);
      res.set('Link', `<${nextLink(req, cursor)}>; rel="next"`);
    }
    res.json(page.map(certificateView));
  });

  /** Counts for the devices the profile reaches now (its assignments, groups expanded). */
  r.get('/profiles/:id/report', apiDoc({ tag: 'Profiles', summary: "Delivery and certificate counts of the devices a profile reaches", query: reportQuery, responses: { 200: '{profileId, version, name, asOf, assignments, devices, deliveries, certificates}', 400: 'invalid query', 404: 'unknown profile' } }), async (req, res) => {
    const q = parseQuery(reportQuery, req.query);
    const profile = await storage.getProfile(req.params.id);
    if (!profile) throw notFound('profile');
    const now = new Date();
    const assignments = await storage.listAssignments({ profileId: profile.id });
    const deviceIds = (await devicesForTargets(storage, assignments.map((a) => a.target))).map((d) => d.id);
    const reached = new Set(deviceIds);

    const deliveries = Object.fromEntries([...DELIVERY_STATES, 'notReported'].map((s) => [s, 0])) as Record<DeliveryState | 'notReported', number>;
    const reported = (await storage.listDeliveryStatus({ profileId: profile.id })).filter((s) => reached.has(s.deviceId));
    for (const s of reported) deliveries[s.state]++;
    deliveries.notReported = reached.size - reported.length;

    const days = q.expiringWithinDays ?? DEFAULT_EXPIRING_DAYS;
    const scope: CertificateFilter = { profileId: profile.id, kind: 'profile', deviceIds, asOf: now.toISOString() };
    const [certificates, expiring] = await Promise.all([
      storage.countCertificates(scope),
      storage.countCertificates({ ...scope, status: 'valid', notAfterUntil: new Date(now.getTime() + days * DAY_MS).toISOString() }),
    ]);
    res.json({
      profileId: profile.id,
      version: profile.version,
      name: profile.name,
      asOf: now.toISOString(),
      assignments: assignments.length,
      devices: reached.size,
      deliveries,
      certificates: { ...certificates, expiringWithinDays: days, expiring: expiring.valid },
    });
  });

  return r;
}
