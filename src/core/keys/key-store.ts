import type { Storage } from '../storage/storage.js';
import type { Sealer } from './sealed.js';

// Where the gateway's own keys live (issue 10): named blobs with a version.
//
// - files (the default with SQLite): the data directory itself, as always;
//   there is nothing to share, so there is no KeyStore object at all.
// - database (the default with PostgreSQL, MDMGW_KEY_STORE=database): the
//   key_material table, each blob sealed under MDMGW_CA_PASSPHRASE. Every
//   instance mirrors it into its own data directory (key-mirror.ts), where the
//   existing loaders (ca/key-files.ts, the OCSP responder, the challenge key,
//   the secrets key, the profile signer) read and write as before.
//
// Writes are compare-and-set on the version: `put(name, v, 0)` is
// insert-if-absent (the first instance's CA wins; the loser reads it).

export interface StoredKey {
  name: string;
  value: Buffer;
  version: number;
}

export interface KeyStore {
  list(): Promise<StoredKey[]>;
  /** Writes if the version is still `expectedVersion` (0: only if absent); the new version, or null when another instance wrote first. */
  put(name: string, value: Buffer, expectedVersion: number): Promise<number | null>;
}

/** The key_material table, sealed: what leaves the process is never a plain key. */
export function databaseKeyStore(storage: Pick<Storage, 'listKeyMaterial' | 'putKeyMaterial'>, sealer: Sealer): KeyStore {
  return {
    list: async () => (await storage.listKeyMaterial()).map((k) => ({ name: k.name, value: sealer.open(k.name, k.value), version: k.version })),
    put: (name, value, expectedVersion) => storage.putKeyMaterial(name, sealer.seal(name, value), expectedVersion),
  };
}
