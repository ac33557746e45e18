import type { Logger } from '../log.js';
import type { EnrollmentService } from './enrollment.js';
import { IssuancePending, IssuanceRefused, type UpstreamConnector } from './issuer.js';
import type { IssuanceStore, UpstreamRequestStore } from './storage/storage.js';

// Settles enrollments an upstream CA answered PENDING (docs/upstream-ca.md):
// each due request is asked about again (SCEP CertPoll, EST simpleenroll
// resent); an issued certificate is recorded (so the device's own CertPoll
// finds it), a refusal rejects the enrollment with the upstream's reason in
// the audit log, and a request still pending after maxPendingHours is given up.

export interface UpstreamPollerDeps {
  storage: IssuanceStore & UpstreamRequestStore;
  enrollment: Pick<EnrollmentService, 'settleUpstream'>;
  upstreams: ReadonlyMap<string, UpstreamConnector>;
  log: Logger;
  /** A request still unanswered this long after it was forwarded is rejected (UPSTREAM_UNAVAILABLE), unless its upstream says otherwise. */
  maxPendingHours: number;
  now?: () => Date;
}

/** At most this many requests per round: a backlog drains over several rounds instead of one long burst. */
const BATCH = 50;

export class UpstreamPoller {
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;

  constructor(private readonly deps: UpstreamPollerDeps) {}

  /** One round over what is due; returns what happened to each request, for tests and the log. */
  async runOnce(): Promise<{ issued: number; refused: number; pending: number }> {
    const now = (this.deps.now ?? (() => new Date()))();
    const due = await this.deps.storage.listDueUpstreamRequests(now.toISOString(), BATCH);
    const tally = { issued: 0, refused: 0, pending: 0 };
    for (const r of due) tally[await this.settle(r, now)]++;
    return tally;
  }

  private async settle(r: Awaited<ReturnType<UpstreamRequestStore['listDueUpstreamRequests']>>[number], now: Date): Promise<'issued' | 'refused' | 'pending'> {
    const { storage, enrollment, log } = this.deps;
    const upstream = this.deps.upstreams.get(r.upstream);
    const e = await storage.getEnrollment(r.transactionId);
    if (!e || e.status !== 'pending') {
      await storage.removeUpstreamRequest(r.transactionId); // an administrator rejected it meanwhile
      return 'refused';
    }
    const maxHours = upstream?.maxPendingHours ?? this.deps.maxPendingHours;
    const giveUp = now.getTime() - Date.parse(r.createdAt) > maxHours * 3_600_000;
    const fail = async (kind: IssuanceRefused['kind'], detail: string, upstreamCode?: string) => {
      await enrollment.settleUpstream(r.transactionId, { status: 'failed', upstream: r.upstream, kind, detail, ...(upstreamCode && { upstreamCode }) });
      await storage.removeUpstreamRequest(r.transactionId);
      return 'refused' as const;
    };
    const later = async (error: string | null) => {
      if (giveUp) return fail('unavailable', `no answer after ${maxHours} hours${error ? `: ${error}` : ''}`);
      const next = new Date(now.getTime() + (upstream?.pollSeconds ?? 300) * 1000).toISOString();
      await storage.rescheduleUpstreamRequest(r.transactionId, next, error);
      return 'pending' as const;
    };
    if (!upstream) return later(`no upstream CA named ${r.upstream} is configured`);
    try {
      const certificate = await upstream.poll(r.state, e.csrDer);
      try {
        await enrollment.settleUpstream(r.transactionId, { status: 'issued', certificate, upstream: r.upstream });
      } catch (err) {
        // e.g. the device was blocked meanwhile (StorageConflictError): the certificate is not handed out.
        log.warn({ transactionId: r.transactionId, upstream: r.upstream, serialNumber: certificate.serialNumber, err }, 'an upstream-issued certificate could not be recorded; the upstream must revoke it');
        return fail('refused', `issued upstream (serial ${certificate.serialNumber}) but not recordable here: ${(err as Error).message}`);
      }
      await storage.removeUpstreamRequest(r.transactionId);
      return 'issued';
    } catch (err) {
      if (err instanceof IssuancePending) return later(null);
      if (err instanceof IssuanceRefused && err.kind === 'refused') return fail('refused', err.message, err.upstreamCode);
      const message = err instanceof Error ? err.message : String(err);
      log.warn({ transactionId: r.transactionId, upstream: r.upstream, detail: message }, 'polling the upstream CA failed; trying again later');
      return later(message);
    }
  }

  /** Polls every `intervalSeconds` (the smallest pollSeconds of the upstreams) until stop(). */
  start(intervalSeconds: number): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#running) return;
      this.#running = this.runOnce()
        .catch((err: unknown) => this.deps.log.error({ err }, 'upstream poll round failed'))
        .finally(() => (this.#running = null));
    }, intervalSeconds * 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
