import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

// Enrollments an upstream CA answered PENDING (upstream-CA mode,
// docs/upstream-ca.md): the poller (ca/upstream/poller.ts) asks the upstream
// again when next_poll_at has passed, until it issues or refuses. Plain
// Kysely, so it runs on SQLite and PostgreSQL.

export interface UpstreamRequest {
  /** The enrollment's transaction id here (enrollments.transaction_id). */
  transactionId: string;
  /** The upstream's configured name. */
  upstream: string;
  /** The connector's own state (upstream transaction id, names); no secrets. */
  state: Record<string, unknown>;
  createdAt: string;
  nextPollAt: string;
  attempts: number;
  lastError: string | null;
}

export type NewUpstreamRequest = Pick<UpstreamRequest, 'transactionId' | 'upstream' | 'state' | 'createdAt' | 'nextPollAt'>;

export interface UpstreamRequestStorage {
  /** Remembers a PENDING upstream enrollment; a second one for the same transaction replaces it. */
  addUpstreamRequest(r: NewUpstreamRequest): Promise<void>;
  /** Those due at `now` (next_poll_at <= now), oldest first, at most `limit`. */
  listDueUpstreamRequests(now: string, limit: number): Promise<UpstreamRequest[]>;
  /** Still pending: count the attempt, ask again at `nextPollAt`, keep the last error (null: none). */
  rescheduleUpstreamRequest(transactionId: string, nextPollAt: string, lastError: string | null): Promise<void>;
  /** Settled (issued, refused, given up). */
  removeUpstreamRequest(transactionId: string): Promise<void>;
}

export class UpstreamRequestStore implements UpstreamRequestStorage {
  constructor(private readonly db: Kysely<Database>) {}

  async addUpstreamRequest(r: NewUpstreamRequest): Promise<void> {
    const row = {
      transaction_id: r.transactionId,
      upstream: r.upstream,
      state: JSON.stringify(r.state),
      created_at: r.createdAt,
      next_poll_at: r.nextPollAt,
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
      .where('next_poll_at', '<=', now)
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
      .set((eb) => ({ next_poll_at: nextPollAt, last_error: lastError, attempts: eb('attempts', '+', 1) }))
      .where('transaction_id', '=', transactionId)
      .execute();
  }

  async removeUpstreamRequest(transactionId: string): Promise<void> {
    await this.db.deleteFrom('upstream_requests').where('transaction_id', '=', transactionId).execute();
  }
}
