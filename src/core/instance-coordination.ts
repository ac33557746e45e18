import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { databaseKeyStore } from './keys/key-store.js';
import { KeyMirror } from './keys/key-mirror.js';
import { passphraseSealer } from './keys/sealed.js';
import type { Storage } from './storage/storage.js';

// One gateway instance among several on one database (docs/scale-out.md):
// - `holder` names it in the leases table;
// - `keys` mirrors the shared key material (MDMGW_KEY_STORE=database; null
//   with files, today's single data directory);
// - `runsHousekeeping` elects the instance that runs the timed upkeep: it takes
//   or renews the lease for 1.5 intervals, so the holder keeps it at each tick
//   and another instance takes over at most 1.5 intervals after it died.

export const HOUSEKEEPING_LEASE = 'housekeeping';

export interface InstanceCoordination {
  holder: string;
  keys: KeyMirror | null;
  runsHousekeeping: (now: Date, intervalMs: number) => Promise<boolean>;
}

export function instanceCoordination(config: Pick<Config, 'keyStore' | 'caPassphrase' | 'dataDir'>, storage: Storage, log: Logger): InstanceCoordination {
  const holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  let keys: KeyMirror | null = null;
  if (config.keyStore === 'database') {
    // config.ts refuses a database key store without the passphrase; this guards other callers.
    if (!config.caPassphrase) throw new Error('MDMGW_CA_PASSPHRASE is required when the keys are kept in the database');
    keys = new KeyMirror({ store: databaseKeyStore(storage, passphraseSealer(config.caPassphrase)), dataDir: config.dataDir, leases: storage, holder, log });
  }
  return {
    holder,
    keys,
    runsHousekeeping: (now, intervalMs) => storage.tryLease(HOUSEKEEPING_LEASE, holder, Math.ceil(intervalMs * 1.5), now.toISOString()),
  };
}
