import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DELIVERY_STATES, type AuditEvent } from '../core/model.js';
import type { CertificateStatus, Storage } from '../core/storage/storage.js';
import { heapUsedAfterMajorGc } from './heap-after-gc.js';

// The gateway's Prometheus metrics, in a registry of its own (several gateways
// in one process, as in the tests, do not share counters). Counters move as
// things happen; the certificate and delivery gauges are read from the
// database when scraped, so they are right across restarts and instances.
//
// Label values come from fixed sets or the gateway's own reason codes, never
// from what a client sent, so a client cannot blow up the number of series.

/** How long a scrape reuses the database counts (a scrape every few seconds must not count the tables each time). */
export const INVENTORY_CACHE_MS = 15_000;
/** `mdmgw_certificates{status="expiring"}`: valid certificates ending within this many days. */
export const EXPIRING_WITHIN_DAYS = 30;

const DAY_MS = 24 * 60 * 60 * 1000;
const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** Audit types that end an enrollment, and the result they stand for. */
const ENROLLMENT_RESULTS: Readonly<Record<string, 'issued' | 'refused' | 'pending'>> = {
  'ca.issued': 'issued',
  'crp.refused': 'refused',
  'identity.refused': 'refused',
  'scep.refused': 'refused',
  'scep.pending': 'pending',
};

/** ok/error: authenticated, answered without/with an error; the rest: refused by device authentication. */
export type CheckInResult = 'ok' | 'error' | 'unauthenticated' | 'forbidden' | 'bad-request';
export type ChallengeKind = 'profile' | 'identity';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly #enrollments: Counter<'result'>;
  readonly #refusals: Counter<'check'>;
  readonly #checkIns: Counter<'platform' | 'result'>;
  readonly #challenges: Counter<'kind' | 'event'>;
  #inventory: { at: number; value: Promise<Inventory> } | null = null;

  constructor(
    private readonly storage: Pick<Storage, 'countCertificates' | 'countDeliveryStates'>,
    private readonly now: () => Date = () => new Date(),
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'mdmgw_' });
    this.httpRequests = new Counter({ name: 'mdmgw_http_requests_total', help: 'HTTP requests by route template and status.', labelNames: ['method', 'route', 'status'], registers });
    this.httpDuration = new Histogram({
      name: 'mdmgw_http_request_duration_seconds',
      help: 'HTTP request latency by route template.',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#enrollments = new Counter({ name: 'mdmgw_enrollments_total', help: 'Certificate requests by result (issued, refused, pending).', labelNames: ['result'], registers });
    this.#refusals = new Counter({ name: 'mdmgw_enrollment_refusals_total', help: 'Refused certificate requests by the refusing check (its reason code).', labelNames: ['check'], registers });
    this.#checkIns = new Counter({ name: 'mdmgw_checkins_total', help: 'Device check-ins (requests authenticated by a device identity) by platform adapter and result.', labelNames: ['platform', 'result'], registers });
    this.#challenges = new Counter({ name: 'mdmgw_challenges_total', help: 'Challenges minted, redeemed (spent by an issuance) and refused as expired.', labelNames: ['kind', 'event'], registers });
    heapUsedAfterMajorGc(); // start observing collections now, not at the first scrape
    new Gauge({
      name: 'mdmgw_nodejs_heap_used_after_major_gc_bytes',
      help: 'V8 heap in use right after the last major garbage collection (the live data; it climbs only with a leak); 0 until one has happened.',
      registers,
      collect() {
        const bytes = heapUsedAfterMajorGc();
        if (bytes !== null) this.set(bytes);
      },
    });
    const inventory = () => this.#readInventory();
    new Gauge({
      name: 'mdmgw_certificates',
      help: `Issued certificates by status (valid, revoked, expired; expiring: valid and ending within ${EXPIRING_WITHIN_DAYS} days).`,
      labelNames: ['status'],
      registers,
      async collect() {
        const { certificates } = await inventory();
        for (const [status, n] of Object.entries(certificates)) this.set({ status }, n);
      },
    });
    new Gauge({
      name: 'mdmgw_deliveries',
      help: 'Profile deliveries (device and profile pairs) by the state the device last reported.',
      labelNames: ['state'],
      registers,
      async collect() {
        const { deliveries } = await inventory();
        for (const state of DELIVERY_STATES) this.set({ state }, deliveries[state]);
      },
    });
  }

  /** Every audit record the gateway stores passes here (see observedStorage). */
  observeAudit(e: Pick<AuditEvent, 'type' | 'reasonCode' | 'details'>): void {
    const result = ENROLLMENT_RESULTS[e.type];
    if (result) this.#enrollments.inc({ result });
    if (result === 'refused') {
      const check = e.reasonCode && CODE.test(e.reasonCode) ? e.reasonCode : 'OTHER';
      this.#refusals.inc({ check });
      if (check === 'CHALLENGE_EXPIRED') this.#challenges.inc({ kind: 'any', event: 'expired' });
    }
    if (e.type === 'audit.refusals.suppressed') this.#countSuppressed(e.details);
  }

  checkIn(platform: string, result: CheckInResult): void {
    this.#checkIns.inc({ platform, result });
  }

  challengeMinted(kind: ChallengeKind): void {
    this.#challenges.inc({ kind, event: 'minted' });
  }

  challengeRedeemed(kind: ChallengeKind): void {
    this.#challenges.inc({ kind, event: 'redeemed' });
  }

  /** Refusals the audit log counted instead of storing still count as refused enrollments. */
  #countSuppressed(details: Record<string, unknown>): void {
    const n = typeof details.suppressed === 'number' && Number.isSafeInteger(details.suppressed) ? details.suppressed : 0;
    if (n <= 0 || typeof details.kind !== 'string' || ENROLLMENT_RESULTS[details.kind] !== 'refused') return;
    this.#enrollments.inc({ result: 'refused' }, n);
    this.#refusals.inc({ check: 'SUPPRESSED' }, n);
  }

  #readInventory(): Promise<Inventory> {
    const t = Date.now();
    if (this.#inventory && t - this.#inventory.at < INVENTORY_CACHE_MS) return this.#inventory.value;
    const asOf = this.now();
    const horizon = new Date(asOf.getTime() + EXPIRING_WITHIN_DAYS * DAY_MS).toISOString();
    const value = Promise.all([
      this.storage.countCertificates({ asOf: asOf.toISOString() }),
      this.storage.countCertificates({ asOf: asOf.toISOString(), status: 'valid', notAfterUntil: horizon }),
      this.storage.countDeliveryStates(),
    ]).then(([byStatus, expiring, deliveries]) => ({ certificates: { ...byStatus, expiring: expiring.valid }, deliveries }));
    this.#inventory = { at: t, value };
    value.catch(() => {
      if (this.#inventory?.value === value) this.#inventory = null; // a failed read is not cached
    });
    return value;
  }
}

interface Inventory {
  certificates: Record<CertificateStatus | 'expiring', number>;
  deliveries: Awaited<ReturnType<Storage['countDeliveryStates']>>;
}
