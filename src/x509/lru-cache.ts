// Lives in x509 because the SCEP codec, which may import only itself and x509,
// uses it too (test/architecture.test.ts).
// A bounded least-recently-used map for values that are pure functions of
// their key (a parsed certificate by its DER hash, a verdict on bytes that
// cannot change): hot paths reuse them instead of rebuilding per request,
// and a flood of distinct keys evicts the oldest instead of growing memory.

export class LruCache<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new Error('LruCache capacity must be at least 1');
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) return undefined;
    // Map keeps insertion order: re-inserting marks it most recently used.
    this.map.delete(key);
    this.map.set(key, v);
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }

  /** The cached value, or `make(key)` stored and returned. */
  getOrSet(key: K, make: (key: K) => V): V {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const v = make(key);
    this.set(key, v);
    return v;
  }

  clear(): void {
    this.map.clear();
  }
}
