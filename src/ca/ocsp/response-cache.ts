// Signed OCSP responses kept per (CA, CertID), each with the status it
// encodes. The responder re-reads the certificate's row on every request and
// serves an entry only while that row still says the same thing, so a
// revocation made anywhere (admin API, device block, another instance on the
// same database) is answered at once: the stale entry is dropped and a fresh
// response signed. Least recently used entries are evicted past a bound.

export interface CachedResponse {
  der: Uint8Array;
  /** What the response says: "good" or "revoked:<time>:<reason>". */
  statusKey: string;
  /** The responder certificate that signed it (a rotation retires every entry). */
  responderCertificate: Uint8Array;
  producedAt: Date;
  thisUpdate: Date;
  nextUpdate: Date;
  /** Strong HTTP validator for GET answers: a hash of the DER. */
  etag: string;
}

/**
 * About 1.5 KiB each (the response carries the responder certificate), so
 * 10,000 entries stay near 15 MiB. Only good/revoked answers for serials we
 * issued get in, so a stranger cannot churn it with made-up serials.
 */
export const DEFAULT_CACHE_ENTRIES = 10_000;

export class ResponseCache {
  private readonly entries = new Map<string, CachedResponse>();

  constructor(readonly maxEntries = DEFAULT_CACHE_ENTRIES) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): CachedResponse | undefined {
    const e = this.entries.get(key);
    if (e) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    return e;
  }

  set(key: string, entry: CachedResponse): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
