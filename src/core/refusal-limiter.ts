// Counts refusals of unauthenticated requests per source (client IP) and kind
// (audit type) in fixed time windows, and says which ones still get an audit
// row: the first `perSource` of a kind per source per window, and no more than
// `global` over all sources per window. The rest are only counted; each count
// comes back once as a Suppressed summary (one audit row per source, kind and
// window, and one per kind for the global overflow, source '*').
//
// Memory is bounded: at most `maxSources` (source, kind) entries, least
// recently used evicted first (its summary is handed out on eviction). When the
// global budget is spent, refusals are not tracked per source at all (only in
// the per-kind overflow), so many addresses cannot fill the map with summaries.

export interface RefusalLimits {
  /** Window length, ms. */
  windowMs: number;
  /** Rows kept per source and kind per window. */
  perSource: number;
  /** Rows kept over all sources per window. */
  global: number;
  /** Most (source, kind) entries remembered. */
  maxSources: number;
}

export const REFUSAL_LIMITS: RefusalLimits = { windowMs: 60_000, perSource: 10, global: 100, maxSources: 4096 };

/** How many refusals of a kind from a source were counted, not stored, in one window. */
export interface Suppressed {
  source: string;
  kind: string;
  suppressed: number;
  /** Rows that were stored in the same window. */
  stored: number;
  windowStart: string;
  windowEnd: string;
}

interface Entry {
  source: string;
  kind: string;
  windowStart: number;
  stored: number;
  suppressed: number;
}

export class RefusalLimiter {
  readonly #entries = new Map<string, Entry>();
  /** Per kind: refusals counted after the global budget was spent, in the current global window. */
  readonly #overflow = new Map<string, number>();
  #globalStart = 0;
  #globalStored = 0;
  #ready: Suppressed[] = [];

  constructor(readonly limits: RefusalLimits = REFUSAL_LIMITS) {}

  /** Whether this refusal gets an audit row ('store') or is only counted ('count'). */
  admit(source: string, kind: string, now: number): 'store' | 'count' {
    this.#rollGlobal(now);
    const key = `${kind}\u0000${source}`;
    let e = this.#entries.get(key);
    if (e && now >= e.windowStart + this.limits.windowMs) {
      this.#close(e);
      e = undefined;
    }
    if (!e && this.#globalStored >= this.limits.global) {
      this.#overflow.set(kind, (this.#overflow.get(kind) ?? 0) + 1);
      return 'count';
    }
    e ??= { source, kind, windowStart: now, stored: 0, suppressed: 0 };
    // Map order is insertion order: re-inserting keeps the least recently used first.
    this.#entries.delete(key);
    this.#entries.set(key, e);
    this.#evict();
    if (e.stored < this.limits.perSource && this.#globalStored < this.limits.global) {
      e.stored++;
      this.#globalStored++;
      return 'store';
    }
    e.suppressed++;
    return 'count';
  }

  /** Summaries of windows that ended before `now` (all of them with `all`), each handed out once. */
  drain(now: number, all = false): Suppressed[] {
    for (const [key, e] of this.#entries) {
      if (all || now >= e.windowStart + this.limits.windowMs) {
        this.#close(e);
        this.#entries.delete(key);
      }
    }
    if (all) this.#closeGlobal(now);
    else this.#rollGlobal(now);
    return this.takeReady();
  }

  /** Summaries already closed by admit (a window that rolled over, an eviction), without scanning every entry. */
  takeReady(): Suppressed[] {
    const out = this.#ready;
    this.#ready = [];
    return out;
  }

  /** Entries currently remembered (tests check the bound). */
  get size(): number {
    return this.#entries.size;
  }

  #evict(): void {
    while (this.#entries.size > this.limits.maxSources) {
      const [key, oldest] = this.#entries.entries().next().value as [string, Entry];
      this.#entries.delete(key);
      this.#close(oldest);
    }
  }

  #close(e: Entry): void {
    if (e.suppressed === 0) return;
    this.#ready.push({
      source: e.source,
      kind: e.kind,
      suppressed: e.suppressed,
      stored: e.stored,
      windowStart: new Date(e.windowStart).toISOString(),
      windowEnd: new Date(e.windowStart + this.limits.windowMs).toISOString(),
    });
  }

  #rollGlobal(now: number): void {
    if (now >= this.#globalStart + this.limits.windowMs) this.#closeGlobal(now);
  }

  #closeGlobal(now: number): void {
    for (const [kind, suppressed] of this.#overflow) {
      this.#ready.push({
        source: '*',
        kind,
        suppressed,
        stored: 0,
        windowStart: new Date(this.#globalStart).toISOString(),
        windowEnd: new Date(Math.min(now, this.#globalStart + this.limits.windowMs)).toISOString(),
      });
    }
    this.#overflow.clear();
    this.#globalStart = now;
    this.#globalStored = 0;
  }
}
