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
// same data directory sees the same state.

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
  onEvent?: (event: 'next-ra-created' | 'ra-switched' | 'ra-renewal-blocked' | 'ra-renewal-failed', fields: Record<string, unknown>) => void;
}

const notAfterMs = (c: KeyedCertificate) => parseTime(readCertificate(c.certificate).notAfter).getTime();

export class RaKeeper {
  private current: RaKeys;
  /** Before this instant nothing is due: the per-request check is one comparison. */
  private dueAt = 0;
  private running: Promise<void> | null = null;
  private readonly now: () => Date;

  constructor(
    private readonly o: RaKeeperOptions,
    initial: RaKeys,
  ) {
    this.current = initial;
    this.now = o.now ?? (() => new Date());
    this.schedule();
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

  private schedule(): void {
    const end = notAfterMs(this.current.ra);
    this.dueAt = this.current.nextRa ? end - RA_SWITCH_BEFORE_DAYS * DAY_MS : end - RA_RENEW_BEFORE_DAYS * DAY_MS;
  }

  /**
   * Re-reads ra.*, ra.previous.* and ra.next.* from the data directory: another
   * instance renewed the RA and the shared key store brought its files here.
   */
  async reload(): Promise<void> {
    const passphrase = this.o.passphrase || undefined;
    const pair = await loadPair(join(this.o.dataDir, RA_KEY_FILE), join(this.o.dataDir, RA_CERT_FILE), passphrase);
    const ra = { certificate: pair.certificate, key: softwareKey(pair.key) };
    const previousRa = await loadPreviousRa(this.o.dataDir, [this.o.root.certificate, ...(this.o.retiredCaCertificates ?? [])], passphrase);
    const nextRa = await loadNextRa(this.o.dataDir, this.o.root, passphrase, new Date(notAfterMs(ra)));
    this.current = { ra, previousRa, nextRa };
    this.schedule();
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
    const opts = { passphrase: this.o.passphrase || undefined, organization: this.o.organization ?? 'mdm-gateway' };
    try {
      if (!this.current.nextRa) {
        const nextRa = await prepareNextRa(this.o.dataDir, this.o.root, this.current.ra.certificate, opts);
        if (!nextRa) return this.blocked(now, end);
        this.current = { ...this.current, nextRa };
        this.o.onEvent?.('next-ra-created', { notAfter: new Date(notAfterMs(nextRa)).toISOString() });
      }
      if (now >= end - RA_SWITCH_BEFORE_DAYS * DAY_MS) {
        const onDisk = await loadPair(join(this.o.dataDir, RA_KEY_FILE), join(this.o.dataDir, RA_CERT_FILE), opts.passphrase);
        // Another instance on this data directory may have switched already: adopt its RA.
        const pair = notAfterMs({ certificate: onDisk.certificate, key: this.current.ra.key }) > end ? onDisk : await switchRa(this.o.dataDir, this.o.root, onDisk, opts);
        const ra = { certificate: pair.certificate, key: softwareKey(pair.key) };
        const previousRa = await loadPreviousRa(this.o.dataDir, [this.o.root.certificate, ...(this.o.retiredCaCertificates ?? [])], opts.passphrase);
        this.current = { ra, previousRa, nextRa: null };
        this.o.onEvent?.('ra-switched', { notAfter: new Date(notAfterMs(ra)).toISOString() });
      }
      this.schedule();
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
