import type { Insertable } from 'kysely';
import type { AuditEvent } from '../../model.js';
import { boundedRecord } from '../../bounded.js';
import { type AuditFilter } from '../storage.js';
import type { AuditStore } from '../audit-store.js';
import { KyselyStore, isoTimestamp, cut } from './support.js';
import { rowToAudit } from './rows.js';
import { prepared } from './prepared.js';
import type { AuditEventsTable } from '../schema.js';

/**
 * The row of one audit record, `at` defaulting to `stamp`. The one place every
 * audit record passes (appendAudit, and recordEnrollment's trail):
 * client-supplied values are cut here (core/bounded.ts).
 */
export function auditRow(e: Omit<AuditEvent, 'id' | 'at'> & { at?: string }, stamp: string): Insertable<AuditEventsTable> {
  return {
    at: e.at === undefined ? stamp : isoTimestamp(e.at, 'audit at'),
    transaction_id: cut(e.transactionId),
    type: cut(e.type) ?? '',
    reason_code: cut(e.reasonCode),
    actor: cut(e.actor),
    details: JSON.stringify(boundedRecord(e.details ?? {})),
  };
}

/** One audit record (compiled once per store: prepared.ts, issue 13). */
const INSERT_AUDIT = prepared('insert audit record', (db, p: { at: string; transaction_id: string | null; type: string; reason_code: string | null; actor: string | null; details: string }) =>
  db.insertInto('audit_events').values({ at: p.at, transaction_id: p.transaction_id, type: p.type, reason_code: p.reason_code, actor: p.actor, details: p.details }),
);

// The append-only audit log (bounded on the way in, purged by retention).
export class KyselyAuditStore extends KyselyStore implements AuditStore {
  async appendAudit(e: Omit<AuditEvent, 'id' | 'at'> & { at?: string }): Promise<void> {
    const r = auditRow(e, this.stamp());
    await INSERT_AUDIT.execute(this.db, { at: r.at, transaction_id: r.transaction_id ?? null, type: r.type, reason_code: r.reason_code ?? null, actor: r.actor ?? null, details: r.details });
  }

  async purgeAudit(before: string): Promise<number> {
    const result = await this.db.deleteFrom('audit_events').where('at', '<', isoTimestamp(before, 'before')).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async listAudit(filter?: AuditFilter): Promise<AuditEvent[]> {
    const limit = filter?.limit;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
      throw new RangeError(`audit limit must be a non-negative integer, got ${limit}`);
    }
    if (limit === 0) return [];
    let q = this.db.selectFrom('audit_events').selectAll();
    if (filter?.transactionId !== undefined) q = q.where('transaction_id', '=', filter.transactionId);
    if (filter?.type !== undefined) q = q.where('type', '=', filter.type);
    if (filter?.beforeId !== undefined) {
      if (!Number.isSafeInteger(filter.beforeId)) throw new RangeError(`audit beforeId must be an integer, got ${filter.beforeId}`);
      q = q.where('id', '<', filter.beforeId);
    }
    if (limit === undefined) {
      const rows = await q.orderBy('id', 'asc').execute();
      return rows.map(rowToAudit);
    }
    // The newest `limit` events, returned oldest first like the unlimited list.
    const rows = await q.orderBy('id', 'desc').limit(limit).execute();
    return rows.reverse().map(rowToAudit);
  }
}
