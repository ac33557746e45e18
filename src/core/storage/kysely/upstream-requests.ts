import type { NewUpstreamRequest, UpstreamRequest, UpstreamRequestStore } from '../upstream-request-store.js';
import { KyselyStore, isoTimestamp } from './support.js';

// Enrollments an upstream CA answered PENDING (migration 0016_upstream_requests).

export class KyselyUpstreamRequestStore extends KyselyStore implements UpstreamRequestStore {
  async addUpstreamRequest(r: NewUpstreamRequest): Promise<void> {
    const row = {
      transaction_id: r.transactionId,
      upstream: r.upstream,
      state: JSON.stringify(r.state),
      created_at: isoTimestamp(r.createdAt, 'createdAt'),
      next_poll_at: isoTimestamp(r.nextPollAt, 'nextPollAt'),
      attempts: 0,
      last_error: null,
    };
    await this.db
      .insertInto('upstream_requests')
      .values(row)
      .onConflict((oc) => oc.column('transaction_id').doUpdateSet({ upstream: row.upstream, state: row.state, next_poll_at: row.next_poll_at, attempts: 0, last_error: null }))
      .execute();
  }

  async listDueUpstreamRequests(now: string, limit: number): Promise<UpstreamRequest[]> {
    const rows = await this.db
      .selectFrom('upstream_requests')
      .selectAll()
      .where('next_poll_at', '<=', isoTimestamp(now, 'now'))
      .orderBy('next_poll_at', 'asc')
      .orderBy('transaction_id', 'asc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      transactionId: r.transaction_id,
      upstream: r.upstream,
      state: JSON.parse(r.state) as Record<string, unknown>,
      createdAt: r.created_at,
      nextPollAt: r.next_poll_at,
      attempts: Number(r.attempts),
      lastError: r.last_error,
    }));
  }

  async rescheduleUpstreamRequest(transactionId: string, nextPollAt: string, lastError: string | null): Promise<void> {
    await this.db
      .updateTable('upstream_requests')
      .set((eb) => ({ next_poll_at: isoTimestamp(nextPollAt, 'nextPollAt'), last_error: lastError, attempts: eb('attempts', '+', 1) }))
      .where('transaction_id', '=', transactionId)
      .execute();
  }

  async removeUpstreamRequest(transactionId: string): Promise<void> {
    await this.db.deleteFrom('upstream_requests').where('transaction_id', '=', transactionId).execute();
  }
}
