import { LruCache } from '../x509/lru-cache.js';

// Graceful overload for SCEP (issue 13). Two independent limits:
//
// - InFlightLimit: at most `max` PKIOperations are being worked on at once.
//   The gateway does an enrollment's CPU work on one event loop, so requests
//   beyond a few dozen only wait in memory while every client's latency
//   grows; past the limit a request is answered 503 with Retry-After at once
//   and the client retries (every SCEP client does), while check-ins and the
//   admin API, which do not pass this gate, keep being answered.
//
// - FailureBudget: a token bucket per source address. Each failed SCEP
//   request (a FAILURE CertRep: bad or spent challenge, a CSR the profile
//   refuses; or an unreadable message) spends a token; tokens come back one
//   per `refillMs` up to `budget`. A source with no token left is answered 429
//   with Retry-After until its next token, without the request being read, so
//   hammering costs the gateway almost nothing; other sources are unaffected,
//   and a device that failed a few times is not locked out.

export class InFlightLimit {
  #inFlight = 0;

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new Error('InFlightLimit max must be at least 1');
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** A release function when a slot was free (call it exactly once), else null. */
  tryEnter(): (() => void) | null {
    if (this.#inFlight >= this.max) return null;
    this.#inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inFlight--;
    };
  }
}

export interface FailureBudgetLimits {
  /** Failures a source may have in a burst; 0 turns the budget off. */
  budget: number;
  /** One failure is forgiven per this many ms. */
  refillMs: number;
  /** Sources remembered (least recently used forgotten first). */
  maxSources: number;
}

export const FAILURE_REFILL_MS = 10_000;
export const FAILURE_SOURCES = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

export class FailureBudget {
  readonly #buckets: LruCache<string, Bucket>;

  constructor(
    readonly limits: FailureBudgetLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.#buckets = new LruCache(limits.maxSources);
  }

  get enabled(): boolean {
    return this.limits.budget > 0;
  }

  /** 0 when the source may be served, else how long (ms) until it may try again. */
  retryAfterMs(source: string): number {
    if (!this.enabled) return 0;
    const b = this.#refilled(source);
    return b.tokens >= 1 ? 0 : Math.ceil((1 - b.tokens) * this.limits.refillMs);
  }

  /** Spends one token of the source's budget. */
  failed(source: string): void {
    if (!this.enabled) return;
    const b = this.#refilled(source);
    b.tokens = Math.max(0, b.tokens - 1);
    this.#buckets.set(source, b);
  }

  #refilled(source: string): Bucket {
    const now = this.now();
    const b = this.#buckets.get(source) ?? { tokens: this.limits.budget, at: now };
    b.tokens = Math.min(this.limits.budget, b.tokens + Math.max(0, now - b.at) / this.limits.refillMs);
    b.at = now;
    return b;
  }
}

/** What the SCEP route checks before a PKIOperation is read. */
export interface ScepAdmission {
  inFlight: InFlightLimit;
  failures: FailureBudget;
}
