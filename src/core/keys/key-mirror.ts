import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from '../../log.js';
import type { Storage } from '../storage/storage.js';
import type { KeyStore } from './key-store.js';

// Mirrors the database's key material into this instance's data directory and
// back (MDMGW_KEY_STORE=database). The loaders keep working on files, so the
// key code stays one code path for both stores; the database is the truth:
//
// - start: under the `key-material` lease, pull everything, let the loaders
//   create what is missing (first instance only: the others found it pulled),
//   push what they created (insert-if-absent), release. Instances starting at
//   the same moment therefore end up with one CA, one RA, one challenge key.
// - rotation (RA renewal, OCSP responder rotation) runs under the same lease
//   (exclusive()), so the step sees the other instances' latest files and its
//   result is pushed before anyone else looks.
// - every KEY_REFRESH_MS each instance pulls (and pushes what it rotated on its
//   own); onPulled tells the gateway which files changed (the RA is re-read).
// - `mdmgw ca rollover` pulls, rolls over and pushes; instances switch to the
//   new CA when restarted, as with files.
//
// A file that disappeared locally (ra.next.* after the switch) is pushed as an
// empty value (a tombstone), which the others apply by deleting their copy.

export const KEY_LEASE = 'key-material';
/** How often a running instance pulls key changes made by others. */
export const KEY_REFRESH_MS = 60_000;
/** The lease outlives a slow start (a 4096-bit root); renewed while held. */
const LEASE_TTL_MS = 120_000;
/** How long a start waits for another instance's key work before giving up. */
const LEASE_WAIT_MS = 300_000;

const FIXED = new Set([
  'ca.key',
  'ca.pem',
  'ra.key',
  'ra.pem',
  'ra.next.key',
  'ra.next.pem',
  'ra.previous.key',
  'ra.previous.pem',
  'challenge-signing.key',
  'secrets.key',
  'profile-signing.key',
  'profile-signing.pem',
  'admin-token',
]);
/** Versions and hashes this data directory last synchronised (no key material in it). */
export const SYNC_FILE = 'key-material.sync.json';
const OCSP = /^ocsp-[0-9a-f]{1,128}\.(key|pem)$/;
const RETIRED = /^ca-retired\/[0-9a-f]{1,128}\.(key|pem)$/;

/** Whether `name` is key material the mirror manages: never a path outside the data directory. */
export function isManagedKeyName(name: string): boolean {
  return FIXED.has(name) || OCSP.test(name) || RETIRED.test(name);
}

export interface KeyMirrorOptions {
  store: KeyStore;
  dataDir: string;
  leases: Pick<Storage, 'tryLease' | 'releaseLease'>;
  /** This instance's lease holder id. */
  holder: string;
  log: Logger;
  /** Told the names a pull changed on disk (after start). */
  onPulled?: (names: string[]) => Promise<void>;
  leaseWaitMs?: number;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class KeyMirror {
  /**
   * What this data directory last synchronised, per name: version and content
   * hash. Kept in SYNC_FILE across restarts, so a file this directory had from
   * the database is replaced quietly when a newer version arrives, and only a
   * file changed outside the mirror is kept aside.
   */
  readonly #known = new Map<string, { version: number; hash: string }>();
  #loaded = false;
  #timer: NodeJS.Timeout | null = null;
  #held = 0;
  #renew: NodeJS.Timeout | null = null;
  #onPulled: ((names: string[]) => Promise<void>) | undefined;

  constructor(private readonly o: KeyMirrorOptions) {}

  /** Runs `fn` holding the key lease, between a pull and a push. Re-entrant within this instance. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#held > 0) return fn();
    await this.begin();
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      await this.abandon();
      throw e;
    }
    await this.end();
    return result;
  }

  /** Takes the key lease (waiting for another instance's key work) and pulls. */
  async begin(): Promise<void> {
    await this.#acquire();
    this.#held++;
    this.#renew = setInterval(() => void this.o.leases.tryLease(KEY_LEASE, this.o.holder, LEASE_TTL_MS, new Date().toISOString()).catch(() => undefined), LEASE_TTL_MS / 3);
    this.#renew.unref();
    try {
      await this.pull();
    } catch (e) {
      await this.abandon();
      throw e;
    }
  }

  /** Pushes what was created or changed since begin(), then gives the lease up. */
  async end(): Promise<void> {
    try {
      await this.push();
    } finally {
      await this.abandon();
    }
  }

  /** Gives the lease up without pushing (the work failed). */
  async abandon(): Promise<void> {
    if (this.#renew) clearInterval(this.#renew);
    this.#renew = null;
    if (this.#held > 0) this.#held--;
    await this.o.leases.releaseLease(KEY_LEASE, this.o.holder).catch(() => undefined);
  }

  /** Pulls (and pushes local rotations) every `intervalMs` while the gateway runs; skipped while another instance holds the lease. `onPulled` hears the names that changed. */
  startRefresh(onPulled?: (names: string[]) => Promise<void>, intervalMs = KEY_REFRESH_MS): void {
    if (onPulled) this.#onPulled = onPulled;
    this.#timer ??= setInterval(() => {
      this.refresh().catch((err: unknown) => this.o.log.error({ err }, 'key material refresh failed'));
    }, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One refresh now: the names pulled, or null when another instance held the lease. */
  async refresh(): Promise<string[] | null> {
    if (this.#held > 0) return null;
    if (!(await this.o.leases.tryLease(KEY_LEASE, this.o.holder, LEASE_TTL_MS, new Date().toISOString()))) return null;
    this.#held++;
    try {
      await this.push();
      const changed = await this.pull();
      if (changed.length > 0) {
        this.o.log.info({ keys: changed }, 'key material changed by another instance');
        await (this.#onPulled ?? this.o.onPulled)?.(changed);
      }
      return changed;
    } finally {
      this.#held--;
      await this.o.leases.releaseLease(KEY_LEASE, this.o.holder).catch(() => undefined);
    }
  }

  async #acquire(): Promise<void> {
    const deadline = Date.now() + (this.o.leaseWaitMs ?? LEASE_WAIT_MS);
    let told = false;
    while (!(await this.o.leases.tryLease(KEY_LEASE, this.o.holder, LEASE_TTL_MS, new Date().toISOString()))) {
      if (Date.now() > deadline) throw new Error(`another gateway instance has held the "${KEY_LEASE}" lease for too long; is one stuck creating keys?`);
      if (!told) this.o.log.info({ lease: KEY_LEASE }, 'waiting for another instance to finish its key work');
      told = true;
      await sleep(100 + Math.floor(Math.random() * 200));
    }
  }

  /** Writes the database's newer key material into the data directory; the names changed. */
  async pull(): Promise<string[]> {
    await this.#load();
    const changed: string[] = [];
    for (const k of await this.o.store.list()) {
      if (!isManagedKeyName(k.name)) {
        this.o.log.warn({ name: k.name }, 'ignored key material with an unexpected name');
        continue;
      }
      const seen = this.#known.get(k.name);
      if (seen?.version === k.version) continue;
      const file = join(this.o.dataDir, k.name);
      const local = await readOrNull(file);
      const hash = sha256(k.value);
      if (k.value.length === 0) {
        if (local !== null) await unlink(file);
      } else if (local === null || sha256(local) !== hash) {
        // A file this directory did not get from the database (it ran on its own
        // before, or someone edited it) and the database disagrees: kept aside, never lost.
        if (local !== null && local.length > 0 && (seen === undefined || sha256(local) !== seen.hash)) {
          const aside = `${file}.local-${Date.now()}`;
          await rename(file, aside);
          this.o.log.warn({ file, keptAs: aside }, 'a local key file differs from the shared key material; the shared one is used');
        }
        await writeAtomically(file, k.value);
      }
      this.#known.set(k.name, { version: k.version, hash });
      if (seen !== undefined || local === null || sha256(local) !== hash) changed.push(k.name);
    }
    if (changed.length > 0) await this.#save();
    return changed;
  }

  /** Writes what changed in the data directory since the last pull into the database. */
  async push(): Promise<void> {
    await this.#load();
    let lost = false;
    let wrote = false;
    for (const name of await this.#localNames()) {
      const local = await readOrNull(join(this.o.dataDir, name));
      const seen = this.#known.get(name);
      const value = local ?? Buffer.alloc(0);
      const hash = sha256(value);
      if (seen ? seen.hash === hash : local === null) continue;
      const version = await this.o.store.put(name, value, seen?.version ?? 0);
      if (version === null) lost = true;
      else {
        this.#known.set(name, { version, hash });
        wrote = true;
      }
    }
    if (wrote) await this.#save();
    // Another instance wrote first (it should have held the lease: expired?): theirs wins.
    if (lost) {
      this.o.log.warn('key material changed concurrently; using the shared copy');
      await this.pull();
    }
  }

  async #load(): Promise<void> {
    if (this.#loaded) return;
    this.#loaded = true;
    const text = await readOrNull(join(this.o.dataDir, SYNC_FILE));
    if (text === null) return;
    try {
      const saved = JSON.parse(text.toString('utf8')) as Record<string, { version: number; hash: string }>;
      for (const [name, v] of Object.entries(saved)) if (isManagedKeyName(name) && Number.isInteger(v.version) && typeof v.hash === 'string') this.#known.set(name, v);
    } catch {
      this.o.log.warn({ file: SYNC_FILE }, 'unreadable key synchronisation record; every differing key file will be kept aside');
    }
  }

  async #save(): Promise<void> {
    await writeAtomically(join(this.o.dataDir, SYNC_FILE), Buffer.from(JSON.stringify(Object.fromEntries(this.#known))));
  }

  /** Managed files present now, and those known from the database (to see deletions). */
  async #localNames(): Promise<string[]> {
    const names = new Set<string>(this.#known.keys());
    for (const f of await readdir(this.o.dataDir).catch(() => [] as string[])) if (isManagedKeyName(f)) names.add(f);
    for (const f of await readdir(join(this.o.dataDir, 'ca-retired')).catch(() => [] as string[])) if (isManagedKeyName(`ca-retired/${f}`)) names.add(`ca-retired/${f}`);
    return [...names].sort();
  }
}

async function readOrNull(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function writeAtomically(file: string, value: Buffer): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  await writeFile(tmp, value, { mode: 0o600, flag: 'wx' });
  try {
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
