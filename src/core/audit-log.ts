import type { Logger } from '../log.js';
import type { AuditEvent } from './model.js';
import { RefusalLimiter, type Suppressed } from './refusal-limiter.js';
import { requestSource } from './request-source.js';
import type { AuditStore } from './storage/storage.js';

// Where core and the adapters append audit records. Refusals of requests that
// carried no valid credential (a bad enrollment token, an unsigned or
// mis-signed message, a PKCSReq without a usable challenge) cost an attacker
// nothing, so they are rate-limited per client address (RefusalLimiter): the
// first rows of a kind per source and window are stored, the rest counted into
// one 'audit.refusals.suppressed' row per source, kind and window. Every other
// record is stored as is. Field sizes are bounded by the storage itself
// (core/bounded.ts), whoever appends.

export type NewAuditEvent = Omit<AuditEvent, 'id' | 'at'> & { at?: string };

/** Audit types that record the refusal of an unauthenticated request. */
export const UNAUTHENTICATED_REFUSALS: ReadonlySet<string> = new Set([
  'windows.enrollment.refused',
  'apple.enroll.refused',
  'apple.message.refused',
  'android.enroll.refused',
  'crp.refused',
  'scep.refused',
  'scep.poll.refused',
]);

export const SUPPRESSED_TYPE = 'audit.refusals.suppressed';

export class AuditLog {
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly storage: AuditStore,
    private readonly log: Logger,
    readonly limiter = new RefusalLimiter(),
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Appends the events in order. A group whose last event is an
   * unauthenticated refusal (e.g. scep.received + crp.refused) is stored or
   * counted as a whole, by the client address of the current request.
   */
  async append(...events: NewAuditEvent[]): Promise<void> {
    return this.appendFrom(requestSource(), ...events);
  }

  /**
   * append, with the client address given by the caller instead of read from
   * the request-source context: the SCEP enrollment path passes it down, so
   * it runs without an AsyncLocalStorage scope (issue 13). null: no request.
   */
  async appendFrom(source: string | null, ...events: NewAuditEvent[]): Promise<void> {
    const last = events.at(-1);
    if (last && source !== null && UNAUTHENTICATED_REFUSALS.has(last.type)) {
      const verdict = this.limiter.admit(source, last.type, this.now());
      await this.#writeSummaries(this.limiter.takeReady());
      if (verdict === 'count') return;
    }
    for (const e of events) await this.storage.appendAudit(e);
  }

  /** Writes the summaries of ended windows (all windows with `all`, at shutdown). */
  async flush(all = false): Promise<void> {
    await this.#writeSummaries(this.limiter.drain(this.now(), all));
  }

  /** Flushes ended windows once per window length; never keeps the process alive. */
  start(): void {
    this.#timer ??= setInterval(() => {
      this.flush().catch((err: unknown) => this.log.error({ err }, 'writing suppressed-refusal summaries failed'));
    }, this.limiter.limits.windowMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.flush(true);
  }

  async #writeSummaries(list: Suppressed[]): Promise<void> {
    for (const s of list) {
      await this.storage.appendAudit({ transactionId: null, type: SUPPRESSED_TYPE, reasonCode: null, actor: 'gateway', details: { ...s } });
      this.log.warn({ source: s.source, kind: s.kind, suppressed: s.suppressed, windowStart: s.windowStart }, 'unauthenticated refusals counted, not stored');
    }
  }
}
