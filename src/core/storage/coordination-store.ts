// What several gateway instances on one database coordinate through (issue 10,
// migration 0014; docs/scale-out.md): leases (who runs scheduled work, who
// holds a device's session, who creates keys) and the sealed key material
// every instance loads (core/keys/).
export interface CoordinationStore {
  /**
   * Takes or renews the lease `name` for `holder` until `now + ttlMs`: true when
   * it was free, expired or already `holder`'s, false while another holder's is
   * unexpired. Atomic across processes and instances.
   */
  tryLease(name: string, holder: string, ttlMs: number, now: string): Promise<boolean>;
  /** Gives the lease up if `holder` holds it (nothing otherwise). */
  releaseLease(name: string, holder: string): Promise<void>;
  /** Every sealed key (core/keys/), by name. */
  listKeyMaterial(): Promise<KeyMaterial[]>;
  getKeyMaterial(name: string): Promise<KeyMaterial | null>;
  /**
   * Writes `name` if its version is still `expectedVersion` (0: only if absent,
   * i.e. insert-if-absent); the new version, or null when another writer got
   * there first (the caller reads theirs).
   */
  putKeyMaterial(name: string, value: Uint8Array, expectedVersion: number): Promise<number | null>;
}

/** A named, sealed blob (core/keys/): `version` grows by one with every write. */
export interface KeyMaterial {
  name: string;
  value: Uint8Array;
  version: number;
  updatedAt: string;
}
