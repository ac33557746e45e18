import type { Storage } from '../core/storage/storage.js';
import type { GatewayMetrics } from './gateway-metrics.js';

// The storage the gateway hands out, seen by the metrics: every audit record
// (whoever appends it) and every challenge an issuance spends passes through
// here, so the counters need no call in core or the adapters. Only after the
// write succeeded: a metric never counts what was not recorded.

export function observedStorage(storage: Storage, metrics: GatewayMetrics): Storage {
  const observed: Partial<Storage> = {
    appendAudit: async (e) => {
      await storage.appendAudit(e);
      metrics.observeAudit({ type: e.type, reasonCode: e.reasonCode, details: e.details });
    },
    recordEnrollment: async (challenge, enrollment, certificate, audit = [], seen) => {
      const r = await storage.recordEnrollment(challenge, enrollment, certificate, audit, seen);
      if (r.ok && challenge !== null) metrics.challengeRedeemed(enrollment.kind);
      // The audit records written in the issuing transaction count like appended ones.
      if (r.ok) for (const e of audit) metrics.observeAudit({ type: e.type, reasonCode: e.reasonCode, details: e.details });
      return r;
    },
  };
  // One bound function per method, not one per call (a check-in makes a few dozen storage calls: issue 13).
  const bound = new WeakMap<(...a: never[]) => unknown, unknown>();
  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (Object.hasOwn(observed, prop)) return observed[prop as keyof Storage];
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      // Bound to the real storage: its methods use private fields a proxy does not have.
      let fn = bound.get(value as (...a: never[]) => unknown);
      if (!fn) bound.set(value as (...a: never[]) => unknown, (fn = value.bind(target)));
      return fn;
    },
  });
}
