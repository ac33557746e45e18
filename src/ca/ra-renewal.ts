import { join } from 'node:path';
import type { KeyedCertificate } from '../x509/keys.js';
import { softwareKey } from '../x509/software-key.js';
import { parseTime, readCertificate } from '../x509/cert-raw.js';
import {
  loadNextRa,
  loadPair,
  loadPreviousRa,
  prepareNextRa,
  RA_CERT_FILE,
  RA_KEY_FILE,
  RA_RENEW_BEFORE_DAYS,
  RA_SWITCH_BEFORE_DAYS,
  switchRa,
} from './key-files.js';

// Keeps the SCEP RA valid while the gateway runs (lifecycle issue #9): every
// SCEP request asks `keys()`, which only compares the clock with cached times
// until something is due. Then, once (concurrent requests share one promise):
//
//   RA_RENEW_BEFORE_DAYS (30) before expiry: the next RA (new key) is created
//     as ra.next.*; GetCACaps advertises GetNextCACert and GetNextCACert hands
//     it out, so clients can fetch it ahead of the switch;
//   RA_SWITCH_BEFORE_DAYS (7) before expiry: the next RA becomes ra.*, the
//     replaced one ra.previous.* (a request encrypted to it is still read).
//
// The work is done on the files, so a restart or a second instance on the
// same data directory sees the same state. An RA whose key is in a PKCS#11
// token keeps its key and is re-certified instead (sameKeyRenewal in
// pkcs11/token-ca.ts); the timing, retries and events are this keeper's.

const DAY_MS = 86_400_000;
/** After a failed or impossible step (disk error; the CA expires before a new RA could), try again this much later. */
export const RA_RETRY_MS = 60 * 60 * 1000;

export interface RaKeys {
  ra: KeyedCertificate;
  /** The RA `ra` replaced, while unexpired: requests encrypted to it are still answered. */
  previousRa: KeyedCertificate | null;
  /** The RA that takes over at the switch, once prepared (GetNextCACert). */
  nextRa: KeyedCertificate | null;
}

export interface RaKeeperOptions {
  dataDir: string;
  root: KeyedCertificate;
  /** Retired CA certificates: the previous RA may be one of theirs (after a CA rollover). */
  retiredCaCertificates?: readonly Uint8Array[];
  passphrase?: string;
  organization?: string;
  now?: () => Date;
  /**
   * Runs a step with the other instances kept out (the shared key store's
   * lease: core/keys/key-mirror.ts), so two instances never prepare two
   * different next RAs. Unset: the step runs as it is.
   */
  exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Told about each step (and why a step could not be taken). */
  onEvent?: (event: RaEvent, fields: Record<string, unknown>) => void;
}

const notAfterMs = (c: KeyedCertificate) => parseTime(readCertificate(c.certificate).notAfter).getTime();

export type RaEvent = 'next-ra-created' | 'ra-switched' | 'ra-recertified' | 'ra-renewal-blocked' | 'ra-renewal-failed';

/**
 * How the RA is renewed; the keeper below does the timing, retries and
 * events for both. `newKeyRenewal` (key files): a new key, prepared ahead
 * as ra.next.* and switched to. `sameKeyRenewal` (a PKCS#11 token,
 * pkcs11/token-ca.ts): a new certificate for the same key.
 */
export interface RaRenewalStrategy {
  /** When the next step is due for `keys` (ms since the epoch). */
  dueAt(keys: RaKeys): number;
  /** The step due at `now`: the new keys and what happened, or null when it cannot be taken (the CA expires before a new RA could). */
  step(keys: RaKeys, now: number): Promise<{ keys: RaKeys; events: [RaEvent, Record<string, unknown>][] } | null>;
  /** Re-reads the RAs from the data directory (another instance renewed them); absent when there is nothing to re-read. */
  reload?(): Promise<RaKeys>;
}

/** Key files: RA_RENEW_BEFORE_DAYS before expiry a next RA with a new key (ra.next.*), switched to RA_SWITCH_BEFORE_DAYS before. */
export function newKeyRenewal(o: RaKeeperOptions): RaRenewalStrategy {
  const opts = () => ({ passphrase: o.passphrase || undefined, organization: o.organization ?? 'mdm-gateway' });
  const previousOf = (passphrase: string | undefined) => loadPreviousRa(o.dataDir, [o.root.certificate, ...(o.retiredCaCertificates ?? [])], passphrase);
  return {
    dueAt: (keys) => notAfterMs(keys.ra) - (keys.nextRa ? RA_SWITCH_BEFORE_DAYS : RA_RENEW_BEFORE_DAYS) * DAY_MS,
    async step(keys, now) {
      const end = notAfterMs(keys.ra);
      const events: [RaEvent, Record<string, unknown>][] = [];
      let current = keys;
      if (!current.nextRa) {
        const nextRa = await prepareNextRa(o.dataDir, o.root, current.ra.certificate, opts());
        if (!nextRa) return null;
        current = { ...current, nextRa };
        events.push(['next-ra-created', { notAfter: new Date(notAfterMs(nextRa)).toISOString() }]);
      }
      if (now >= end - RA_SWITCH_BEFORE_DAYS * DAY_MS) {
        const onDisk = await loadPair(join(o.dataDir, RA_KEY_FILE), join(o.dataDir, RA_CERT_FILE), opts().passphrase);
        // Another instance on this data directory may have switched already: adopt its RA.
        const pair = notAfterMs({ certificate: onDisk.certificate, key: current.ra.key }) > end ? onDisk : await switchRa(o.dataDir, o.root, onDisk, opts());
        const ra = { certificate: pair.certificate, key: softwareKey(pair.key) };
        current = { ra, previousRa: await previousOf(opts().passphrase), nextRa: null };
        events.push(['ra-switched', { notAfter: new Date(notAfterMs(ra)).toISOString() }]);
      }
      return { keys: current, events };
    },
    async reload() {
      const passphrase = o.passphrase || undefined;
      const pair = await loadPair(join(o.dataDir, RA_KEY_FILE), join(o.dataDir, RA_CERT_FILE), passphrase);
      const ra = { certificate: pair.certificate, key: softwareKey(pair.key) };
      return { ra, previousRa: await previousOf(passphrase), nextRa: await loadNextRa(o.dataDir, o.root, passphrase, new Date(notAfterMs(ra))) };
    },
  };
}

export class RaKeeper {
  private current: RaKeys;
  /** Before this instant nothing is due: the per-request check is one comparison. */
  private dueAt = 0;
  private running: Promise<void> | null = null;
  private readonly now: () => Date;
  private readonly strategy: RaRenewalStrategy;

  constructor(
    private readonly o: RaKeeperOptions,
    initial: RaKeys,
    strategy?: RaRenewalStrategy,
  ) {
    this.current = initial;
    this.now = o.now ?? (() => new Date());
    this.strategy = strategy ?? newKeyRenewal(o);
    this.dueAt = this.strategy.dueAt(this.current);
  }

  /** The RAs to use for this request, after any step that is due. */
  async keys(): Promise<RaKeys> {
    if (this.now().getTime() < this.dueAt) return this.current;
    this.running ??= this.step().finally(() => {
      this.running = null;
    });
    await this.running;
    return this.current;
  }

  /** The keys as they are, without checking the clock (GetCACaps needs no step). */
  peek(): RaKeys {
    return this.current;
  }

  /**
   * Re-reads ra.*, ra.previous.* and ra.next.* from the data directory: another
   * instance renewed the RA and the shared key store brought its files here.
   * (A token RA has nothing to re-read: its key never changes.)
   */
  async reload(): Promise<void> {
    if (!this.strategy.reload) return;
    this.current = await this.strategy.reload();
    this.dueAt = this.strategy.dueAt(this.current);
  }

  private async step(): Promise<void> {
    if (!this.o.exclusive) return this.stepHere();
    try {
      await this.o.exclusive(() => this.stepHere());
    } catch (e) {
      // The lease could not be had: the current RA is still valid, try again later.
      this.dueAt = this.now().getTime() + RA_RETRY_MS;
      this.o.onEvent?.('ra-renewal-failed', { error: (e as Error).message });
    }
  }

  private async stepHere(): Promise<void> {
    const now = this.now().getTime();
    const end = notAfterMs(this.current.ra);
    try {
      const r = await this.strategy.step(this.current, now);
      if (!r) return this.blocked(now, end);
      this.current = r.keys;
      for (const [event, fields] of r.events) this.o.onEvent?.(event, fields);
      // A CA that expires before the renewal point caps the RA: only a CA rollover helps; do not step on every request.
      const due = this.strategy.dueAt(this.current);
      this.dueAt = due > now ? due : now + RA_RETRY_MS;
    } catch (e) {
      // The current RA is still valid (the steps start days ahead): keep serving, try again later.
      this.dueAt = now + RA_RETRY_MS;
      this.o.onEvent?.('ra-renewal-failed', { error: (e as Error).message });
    }
  }

  /** The CA's own expiry caps every RA it issues: only a CA rollover helps. */
  private blocked(now: number, end: number): void {
    this.dueAt = now + RA_RETRY_MS;
    this.o.onEvent?.('ra-renewal-blocked', { raNotAfter: new Date(end).toISOString(), reason: 'the CA certificate expires before a new RA could: run `mdmgw ca rollover`' });
  }
}
