// Enrollments an upstream CA answered PENDING (upstream-CA mode,
// docs/upstream-ca.md): the poller (core/upstream-poller.ts) asks the upstream
// again when next_poll_at has passed, until it issues or refuses.

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

export interface UpstreamRequestStore {
  /** Remembers a PENDING upstream enrollment; a second one for the same transaction replaces it. */
  addUpstreamRequest(r: NewUpstreamRequest): Promise<void>;
  /** Those due at `now` (next_poll_at <= now), oldest first, at most `limit`. */
  listDueUpstreamRequests(now: string, limit: number): Promise<UpstreamRequest[]>;
  /** Still pending: count the attempt, ask again at `nextPollAt`, keep the last error (null: none). */
  rescheduleUpstreamRequest(transactionId: string, nextPollAt: string, lastError: string | null): Promise<void>;
  /** Settled (issued, refused, given up). */
  removeUpstreamRequest(transactionId: string): Promise<void>;
}
