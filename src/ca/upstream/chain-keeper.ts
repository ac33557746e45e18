import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { UpstreamConnector } from '../../core/issuer.js';
import type { Logger } from '../../log.js';
import { toPem } from '../../pem.js';
import { certificatesInPem } from '../ca-chain.js';
import type { CaRegistry } from '../registry.js';
import { sha256Fingerprint } from './upstream-certificate.js';
import { subjectOf, upstreamChainFrom, type UpstreamChain } from './upstream-chain.js';

// Keeps each upstream CA's chain (docs/upstream-ca.md, "Trusted root"):
// fetched at start, then every REFRESH_MS, and on demand while it is missing
// (at most once per RETRY_MS per upstream, so a check-in storm does not turn
// into a storm at someone else's CA). The last good chain is kept in
// DATA/upstream-chains/<name>.pem, so a restart with the upstream down still
// renders payloads with its root. The file is per instance on purpose: the
// chain is public, every instance fetches it for itself, and a file needs no
// shared schema. A good chain is registered in the CA registry (GetCACert for
// the upstream's name, the root and intermediates of payloads); a chain that
// fails the caFingerprint pin is never registered, and an earlier good one
// stays.

/** How often a known chain is fetched again (an upstream CA renewal is seen within this). */
export const UPSTREAM_CHAIN_REFRESH_MS = 60 * 60_000;
/** While a chain is missing, at most one on-demand fetch per upstream per this long. */
export const UPSTREAM_CHAIN_RETRY_MS = 60_000;
/** A check-in waits at most this long for an on-demand fetch; a slower upstream's chain arrives for the next check-in. */
export const UPSTREAM_CHAIN_CHECKIN_WAIT_MS = 3_000;
export const UPSTREAM_CHAINS_DIR = 'upstream-chains';

export interface UpstreamChainState {
  chain: UpstreamChain | null;
  /** When the chain in use was fetched from the upstream, or read from the cache file at start. */
  fetchedAt: string | null;
  source: 'upstream' | 'cache' | null;
  lastError: { at: string; message: string } | null;
}

export class UpstreamChainKeeper {
  readonly #states = new Map<string, UpstreamChainState>();
  readonly #lastAttempt = new Map<string, number>();
  readonly #inFlight = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly d: {
      upstreams: ReadonlyMap<string, UpstreamConnector>;
      registry: CaRegistry;
      dataDir: string;
      log: Logger;
      now?: () => Date;
      /** UPSTREAM_CHAIN_RETRY_MS unless a test says otherwise. */
      retryMs?: number;
    },
  ) {
    for (const name of d.upstreams.keys()) this.#states.set(name, { chain: null, fetchedAt: null, source: null, lastError: null });
  }

  state(name: string): UpstreamChainState | undefined {
    return this.#states.get(name);
  }

  /** Why payloads of profiles naming this upstream cannot carry its root yet; null when its chain is known (or it is no upstream). */
  missingReason(name: string): string | null {
    const s = this.#states.get(name);
    if (!s || s.chain) return null;
    return s.lastError
      ? `the chain of upstream CA "${name}" is not known: ${s.lastError.message}`
      : `the chain of upstream CA "${name}" has not been fetched yet`;
  }

  /** Reads the cached chains (a start with the upstream down still has them); a cached chain that fails the pin is ignored. */
  async loadCached(): Promise<void> {
    for (const [name, upstream] of this.d.upstreams) {
      let text: string;
      try {
        text = await readFile(this.#file(name), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.d.log.warn({ upstream: name, err: e }, 'upstream CA chain: the cached chain cannot be read');
        continue;
      }
      try {
        const chain = await upstreamChainFrom(certificatesInPem(text, this.#file(name)), upstream.caFingerprint);
        this.#accept(name, chain, 'cache');
      } catch (e) {
        this.#fail(name, `the cached chain ${this.#file(name)} is not usable: ${(e as Error).message}`);
      }
    }
  }

  /** Fetches every upstream's chain (those given, or all); never throws: failures are the state's lastError. */
  async refresh(names: readonly string[] = [...this.d.upstreams.keys()]): Promise<void> {
    await Promise.all(names.map((n) => this.#refreshOne(n)));
  }

  /**
   * On demand: fetches the chains still missing among `names`, each at most
   * once per UPSTREAM_CHAIN_RETRY_MS (a fetch already running is joined).
   * Waits at most `waitMs` (unset: until done); the fetch goes on after that.
   */
  async ensure(names: Iterable<string>, waitMs?: number): Promise<void> {
    const due = [...new Set(names)].filter((n) => {
      const s = this.#states.get(n);
      return s && !s.chain && (this.#inFlight.has(n) || Date.now() - (this.#lastAttempt.get(n) ?? 0) >= (this.d.retryMs ?? UPSTREAM_CHAIN_RETRY_MS));
    });
    if (due.length === 0) return;
    const done = this.refresh(due);
    if (waitMs === undefined) return done;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  /** The start's fetch (not awaited by the caller: an unreachable upstream must not hold the start), then every `intervalMs`. */
  start(intervalMs = UPSTREAM_CHAIN_REFRESH_MS): Promise<void> {
    const first = this.refresh();
    this.#timer = setInterval(() => void this.refresh(), intervalMs);
    this.#timer.unref();
    return first;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await Promise.all(this.#inFlight.values());
  }

  #refreshOne(name: string): Promise<void> {
    const running = this.#inFlight.get(name);
    if (running) return running;
    const p = this.#fetch(name).finally(() => this.#inFlight.delete(name));
    this.#inFlight.set(name, p);
    return p;
  }

  async #fetch(name: string): Promise<void> {
    const upstream = this.d.upstreams.get(name);
    if (!upstream) return;
    this.#lastAttempt.set(name, Date.now());
    let chain: UpstreamChain;
    try {
      chain = await upstreamChainFrom(await upstream.fetchCaCertificates(), upstream.caFingerprint);
    } catch (e) {
      this.#fail(name, (e as Error).message);
      return;
    }
    const before = this.#states.get(name)?.chain;
    this.#accept(name, chain, 'upstream');
    if (!before || !sameChain(before.chain, chain.chain)) await this.#save(name, chain);
  }

  #accept(name: string, chain: UpstreamChain, source: 'upstream' | 'cache'): void {
    const upstream = this.d.upstreams.get(name)!;
    const before = this.#states.get(name)?.chain;
    this.#states.set(name, { chain, fetchedAt: this.#now().toISOString(), source, lastError: null });
    this.d.registry.setUpstream({ name, kind: 'upstream', issuer: upstream, chain: chain.chain, trustedRoot: chain.root });
    if (!before || !sameChain(before.chain, chain.chain)) {
      const fields = { upstream: name, source, root: subjectOf(chain.root), rootSha256: sha256Fingerprint(chain.root), certificates: chain.chain.length };
      if (chain.rootSelfSigned) this.d.log.info(fields, 'upstream CA chain registered');
      else this.d.log.warn(fields, 'upstream CA chain registered, but the upstream does not publish its root: devices get its top certificate as trust anchor; set trustedRootCertificate on its profiles');
    }
  }

  #fail(name: string, message: string): void {
    const s = this.#states.get(name)!;
    s.lastError = { at: this.#now().toISOString(), message };
    this.d.log.warn({ upstream: name, problem: message, keeping: s.chain ? 'the last good chain' : 'none' }, 'upstream CA chain could not be fetched');
  }

  async #save(name: string, chain: UpstreamChain): Promise<void> {
    const file = this.#file(name);
    try {
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      await writeFile(`${file}.tmp`, chain.chain.map((c) => toPem(c)).join(''), { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    } catch (e) {
      this.d.log.warn({ upstream: name, file, err: e }, 'upstream CA chain: cannot keep it for the next start');
    }
  }

  #file(name: string): string {
    return path.join(this.d.dataDir, UPSTREAM_CHAINS_DIR, `${name}.pem`);
  }

  #now(): Date {
    return this.d.now?.() ?? new Date();
  }
}

function sameChain(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((c, i) => Buffer.from(c).equals(Buffer.from(b[i]!)));
}
