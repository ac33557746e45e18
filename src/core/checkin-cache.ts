import { LruCache } from '../x509/lru-cache.js';

// The answer a device got at its last check-in with nothing to do, kept so
// the next such check-in is answered without recomputing its plan (issue 13).
// An entry is used only when its key is the same string again: the adapter
// builds it from everything the answer depends on that is not a pure
// function of time (the plan generation, core/plan-generation.ts; the device
// record; the adapter's stored state for the device; what the request asks).
// Time-dependent parts (a certificate entering its renewal window) end the
// entry at `validUntil`; every entry also ends CHECKIN_CACHE_MAX_AGE_MS after
// it was made, which bounds anything time-based an adapter did not foresee
// and the reach of a pending removal's grace period (core/removals.ts runs at
// the next full check-in, and in the housekeeping sweep anyway).
// Authentication is never cached: the routes run it before asking here.

/** Devices whose last answer is kept (per adapter). */
export const CHECKIN_CACHE_ENTRIES = 10_000;
/** The longest an answer is reused without a full check-in. */
export const CHECKIN_CACHE_MAX_AGE_MS = 5 * 60_000;

interface Entry<V> {
  key: string;
  validUntil: number;
  value: V;
}

export class CheckinCache<V> {
  private readonly entries: LruCache<string, Entry<V>>;

  constructor(capacity = CHECKIN_CACHE_ENTRIES) {
    this.entries = new LruCache(capacity);
  }

  /** The kept answer, when it was made under exactly this key and is still valid at `now`. */
  get(deviceId: string, key: string, now: Date): V | undefined {
    const e = this.entries.get(deviceId);
    if (!e || e.key !== key || now.getTime() >= e.validUntil) return undefined;
    return e.value;
  }

  /** Keeps `value` for the device until `validUntil` (at most CHECKIN_CACHE_MAX_AGE_MS from `now`). */
  set(deviceId: string, key: string, value: V, now: Date, validUntil = Number.POSITIVE_INFINITY): void {
    this.entries.set(deviceId, { key, value, validUntil: Math.min(validUntil, now.getTime() + CHECKIN_CACHE_MAX_AGE_MS) });
  }
}
