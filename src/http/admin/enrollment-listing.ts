import { Router } from 'express';
import { z } from 'zod';
import { fieldIssues } from '../../core/field-issues.js';
import type { AuditEvent, Enrollment } from '../../core/model.js';
import type { IssuanceStore, AuditStore } from '../../core/storage/storage.js';
import { HttpError } from '../errors.js';
import { apiDoc } from './api-doc.js';

// GET /enrollments: the recent SCEP transactions, newest first, for the admin
// console (operations issue #14, item 4). A refused request is never recorded
// as an enrollment (only its audit records are), yet it is what an admin
// troubleshoots most, so the list merges the recorded enrollments with the
// refusals in the audit log. Each row's transactionId opens its timeline at
// GET /enrollments/:transactionId.

export const ENROLLMENT_LIST_DEFAULT = 50;
export const ENROLLMENT_LIST_MAX = 500;

/** The audit records that end a SCEP transaction without an enrollment (core/enrollment.ts). */
const REFUSAL_TYPES = ['crp.refused', 'scep.refused'] as const;

const listQuery = z.strictObject({
  limit: z.coerce
    .number({ message: `must be an integer 1..${ENROLLMENT_LIST_MAX}` })
    .int(`must be an integer 1..${ENROLLMENT_LIST_MAX}`)
    .min(1, `must be an integer 1..${ENROLLMENT_LIST_MAX}`)
    .max(ENROLLMENT_LIST_MAX, `must be an integer 1..${ENROLLMENT_LIST_MAX}`)
    .default(ENROLLMENT_LIST_DEFAULT),
});

export interface EnrollmentListRow {
  transactionId: string;
  /** An enrollment's status, or `refused` for a request refused before it was recorded. */
  status: Enrollment['status'] | 'refused';
  /** When the enrollment was recorded, or when the request was refused. */
  at: string;
  kind: Enrollment['kind'] | null;
  deviceId: string | null;
  userId: string | null;
  profileId: string | null;
  profileVersion: number | null;
  certificateSerial: string | null;
  renewalOf: string | null;
  /** The refusal's reason code (core/reasons.ts) and text; null for recorded enrollments. */
  reasonCode: string | null;
  reason: string | null;
}

function enrollmentRow(e: Enrollment): EnrollmentListRow {
  return {
    transactionId: e.transactionId,
    status: e.status,
    at: e.createdAt,
    kind: e.kind,
    deviceId: e.deviceId,
    userId: e.userId,
    profileId: e.profileId,
    profileVersion: e.profileVersion,
    certificateSerial: e.certificateSerial,
    renewalOf: e.renewalOf,
    reasonCode: null,
    reason: null,
  };
}

function refusalRow(e: AuditEvent & { transactionId: string }): EnrollmentListRow {
  const text = e.details.text;
  return {
    transactionId: e.transactionId,
    status: 'refused',
    at: e.at,
    kind: null,
    deviceId: null,
    userId: null,
    profileId: null,
    profileVersion: null,
    certificateSerial: null,
    renewalOf: null,
    reasonCode: e.reasonCode,
    reason: typeof text === 'string' ? text : null,
  };
}

/**
 * The newest `limit` transactions. A transaction with an enrollment shows as
 * that enrollment (a refused retry of it, e.g. another CSR under its
 * transactionID, does not hide it); one refused several times shows once, at
 * its latest refusal.
 */
export async function recentEnrollments(storage: IssuanceStore & AuditStore, limit: number): Promise<EnrollmentListRow[]> {
  const [enrollments, ...refusalLists] = await Promise.all([
    storage.listRecentEnrollments(limit),
    ...REFUSAL_TYPES.map((type) => storage.listAudit({ type, limit })),
  ]);
  const rows = new Map<string, EnrollmentListRow>();
  for (const e of enrollments) rows.set(e.transactionId, enrollmentRow(e));
  const refusals = refusalLists
    .flat()
    .filter((e): e is AuditEvent & { transactionId: string } => e.transactionId !== null)
    .sort((a, b) => b.id - a.id);
  for (const e of refusals) {
    // Recorded enrollments stand; for the rest the newest refusal comes first here.
    if (!rows.has(e.transactionId) && !(await storage.getEnrollment(e.transactionId))) rows.set(e.transactionId, refusalRow(e));
  }
  return [...rows.values()]
    .sort((a, b) => (a.at === b.at ? (a.transactionId < b.transactionId ? 1 : -1) : a.at < b.at ? 1 : -1))
    .slice(0, limit);
}

export function enrollmentListingRoutes(storage: IssuanceStore & AuditStore): Router {
  const r = Router();
  r.get('/enrollments', apiDoc({ tag: 'Enrollments', summary: 'Recent SCEP transactions, newest first (refusals included)', query: listQuery, responses: { 200: 'the rows', 400: 'invalid query' } }), async (req, res) => {
    const q = listQuery.safeParse(req.query);
    if (!q.success) throw new HttpError(400, 'invalid query', fieldIssues(q.error));
    res.json(await recentEnrollments(storage, q.data.limit));
  });
  return r;
}
