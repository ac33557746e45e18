import { X509Certificate, randomBytes, sign, verify } from 'node:crypto';
import type { AdapterServices, PlatformAdapter } from './core/adapter.js';
import type { ChallengeKeyPair } from './core/challenge/signing-key.js';
import { certificateLifetime, clockHealth, worst, type ComponentHealth, type HealthStatus } from './core/health.js';
import type { Storage } from './core/storage/storage.js';
import type { UpstreamConnector } from './core/issuer.js';
import type { UpstreamChainState } from './ca/upstream/chain-keeper.js';
import type { Logger } from './log.js';
import { probeGetCaCaps, type CapsProbeResult } from './scep/caps-probe.js';
import type { KeyedCertificate } from './x509/keys.js';

// The gateway's health (operations issue #14, item 2), in two depths:
// - readiness (GET /readyz, no token): can this instance serve? The database
//   answers and is migrated, the CA, RA and challenge-signing keys sign with
//   what their certificates say, and the gateway is not shutting down.
// - the report (GET /api/v1/health, admin token): every part with its state:
//   the above plus certificate lifetimes, adapters' parts (APNs), each SCEP URL
//   a payload names answering GetCACaps, and clock sanity.

/** Each SCEP URL is asked at most once per this long; the report stays cheap under polling. */
export const SCEP_PROBE_CACHE_MS = 60_000;
/** A SCEP URL that has not answered GetCACaps by then is reported as not answering. */
export const SCEP_PROBE_TIMEOUT_MS = 3_000;
/** Profiles may name up to 10 SCEP URLs each; the report probes at most this many distinct ones. */
export const MAX_PROBED_SCEP_URLS = 50;

export interface GatewayHealthDeps {
  storage: Storage;
  root: KeyedCertificate;
  /** The RA serving now (it is renewed while the gateway runs). */
  ra: () => KeyedCertificate;
  challengeKey: ChallengeKeyPair;
  /** The gateway's own SCEP URL (what payloads name when a profile names none). */
  scepUrl: string;
  /** The mounted adapters, with the services their routes got. */
  adapters: () => readonly { adapter: PlatformAdapter; services: AdapterServices }[];
  log: Logger;
  now?: () => Date;
  probe?: (url: string, timeoutMs: number) => Promise<CapsProbeResult>;
  probeTimeoutMs?: number;
  probeCacheMs?: number;
  /** The directory sync's component (docs/directory.md); null when no directory is configured. */
  directory?: () => Promise<ComponentHealth | null>;
  /** Upstream CAs (docs/upstream-ca.md): each one's last contact is a component. */
  upstreams?: () => readonly UpstreamConnector[];
  /** Each upstream's chain as the chain keeper has it (ca/upstream/chain-keeper.ts). */
  upstreamChains?: (name: string) => UpstreamChainState | undefined;
}

export interface HealthReport {
  status: HealthStatus;
  checkedAt: string;
  components: ComponentHealth[];
}

const certificateOf = (der: Uint8Array) => new X509Certificate(Buffer.from(der));

export class GatewayHealth {
  #closing = false;
  readonly #probes = new Map<string, { at: number; result: Promise<CapsProbeResult> }>();

  constructor(private readonly d: GatewayHealthDeps) {}

  #now(): Date {
    return this.d.now?.() ?? new Date();
  }

  /** From now on readiness says no (the load balancer stops sending traffic while in-flight requests finish). */
  markClosing(): void {
    this.#closing = true;
  }

  async readiness(): Promise<{ ready: boolean; checks: ComponentHealth[] }> {
    const checks = [await this.#database(), await this.#keys()];
    if (this.#closing) checks.push({ component: 'lifecycle', status: 'error', message: 'the gateway is shutting down' });
    return { ready: checks.every((c) => c.status !== 'error'), checks };
  }

  async report(): Promise<HealthReport> {
    const now = this.#now();
    const [database, keys, adapters, scep, clock, directory] = await Promise.all([this.#database(), this.#keys(), this.#adapters(), this.#scepUrls(), this.#clock(now), this.#directory()]);
    const components = [
      database,
      certificateLifetime('ca-certificate', 'the CA certificate', validity(this.d.root.certificate), now, { subject: certificateOf(this.d.root.certificate).subject.replace(/\n/g, ', ') }),
      certificateLifetime('ra-certificate', 'the SCEP RA certificate', validity(this.d.ra().certificate), now, { subject: certificateOf(this.d.ra().certificate).subject.replace(/\n/g, ', ') }),
      keys,
      ...adapters,
      ...scep,
      ...this.#upstreams(now),
      clock,
      ...directory,
    ];
    return { status: worst(components.map((c) => c.status)), checkedAt: now.toISOString(), components };
  }

  async #directory(): Promise<ComponentHealth[]> {
    if (!this.d.directory) return [];
    try {
      const c = await this.d.directory();
      return c ? [c] : [];
    } catch (e) {
      return [{ component: 'directory:ldap', status: 'error', message: `the directory sync state cannot be read: ${(e as Error).message}` }];
    }
  }

  async #database(): Promise<ComponentHealth> {
    const started = Date.now();
    try {
      const pending = await this.d.storage.pendingMigrations();
      const details = { latencyMs: Date.now() - started, pendingMigrations: pending };
      if (pending.length > 0) return { component: 'database', status: 'error', message: `the database lacks migrations ${pending.join(', ')}: restart the gateway to apply them`, details };
      return { component: 'database', status: 'ok', message: 'the database answers and its schema is current', details };
    } catch (e) {
      this.d.log.warn({ err: e }, 'health: the database does not answer');
      return { component: 'database', status: 'error', message: `the database does not answer: ${(e as Error).message}`, details: { latencyMs: Date.now() - started } };
    }
  }

  /** Each key signs a fresh nonce that its certificate's (or pair's) public key verifies: loaded, usable and the right one. */
  async #keys(): Promise<ComponentHealth> {
    const nonce = randomBytes(32);
    const problems: string[] = [];
    for (const [name, kc] of [['CA', this.d.root], ['RA', this.d.ra()]] as const) {
      try {
        const signature = await kc.key.sign(nonce, 'sha256');
        if (!verify('sha256', nonce, certificateOf(kc.certificate).publicKey, signature)) problems.push(`the ${name} key does not match its certificate`);
      } catch (e) {
        problems.push(`the ${name} key cannot sign (${(e as Error).message})`);
      }
    }
    try {
      if (!verify(null, nonce, this.d.challengeKey.publicKey, sign(null, nonce, this.d.challengeKey.privateKey))) problems.push('the challenge-signing key pair does not match');
    } catch (e) {
      problems.push(`the challenge-signing key cannot sign (${(e as Error).message})`);
    }
    if (problems.length > 0) return { component: 'keys', status: 'error', message: problems.join('; ') };
    return { component: 'keys', status: 'ok', message: 'the CA, RA and challenge-signing keys are loaded and match', details: { keys: ['ca', 'ra', 'challenge-signing'] } };
  }

  /**
   * Not probed (a probe would be a request to someone else's CA): what the
   * last forwarded request, poll or chain fetch found, and the chain devices
   * are given (its absence holds the deliveries of the upstream's profiles).
   */
  #upstreams(now: Date): ComponentHealth[] {
    return (this.d.upstreams?.() ?? []).map((u) => {
      const component = `upstream:${u.name}`;
      const last = u.lastContact();
      const chainState = this.d.upstreamChains?.(u.name);
      const [ca] = chainState?.chain?.chain ?? u.caCertificates();
      const caNotAfter = ca ? new Date(certificateOf(ca).validTo) : null;
      const details = { kind: u.kind, ...(last && { lastContact: last.at }), ...(caNotAfter && { caNotAfter: caNotAfter.toISOString() }), ...(chainState && { chain: chainDetails(chainState) }) };
      const chainProblem = chainState && upstreamChainProblem(u.name, chainState, now);
      if (chainProblem) return { component, ...chainProblem, details };
      if (!last) return { component, status: 'ok' as const, message: `upstream CA ${u.name} has not been asked yet`, details };
      if (!last.ok) return { component, status: 'error' as const, message: `upstream CA ${u.name} could not be asked at ${last.at}: ${last.message}`, details };
      if (caNotAfter && caNotAfter < now) return { component, status: 'error' as const, message: `the certificate of upstream CA ${u.name} has expired`, details };
      return { component, status: 'ok' as const, message: `upstream CA ${u.name} answered at ${last.at}`, details };
    });
  }

  async #adapters(): Promise<ComponentHealth[]> {
    const parts = await Promise.all(
      this.d.adapters().map(async ({ adapter, services }) => {
        if (!adapter.health) return [];
        try {
          return await adapter.health(services);
        } catch (e) {
          this.d.log.warn({ err: e, adapter: adapter.name }, 'health: an adapter health check failed');
          return [{ component: adapter.name, status: 'error' as const, message: `the ${adapter.name} adapter's health check failed: ${(e as Error).message}` }];
        }
      }),
    );
    return parts.flat();
  }

  /** The gateway's own SCEP URL and every profile's scepServerUrls, asked in parallel, answers cached. */
  async #scepUrls(): Promise<ComponentHealth[]> {
    const profiles = await this.d.storage.listProfiles().catch(() => []);
    const all = [...new Set([this.d.scepUrl, ...profiles.flatMap((p) => p.scepServerUrls)])];
    const urls = all.slice(0, MAX_PROBED_SCEP_URLS);
    const results = await Promise.all(urls.map((u) => this.#probe(u)));
    for (const known of this.#probes.keys()) if (!all.includes(known)) this.#probes.delete(known);
    const components = results.map((r): ComponentHealth => {
      const details = { httpStatus: r.httpStatus, capabilities: r.capabilities, elapsedMs: r.elapsedMs, ...(r.url === this.d.scepUrl && { gateway: true }) };
      return r.ok
        ? { component: `scep:${r.url}`, status: 'ok', message: 'answers GetCACaps', details }
        : { component: `scep:${r.url}`, status: 'error', message: `does not answer GetCACaps from the gateway: ${r.problem}`, details };
    });
    if (all.length > urls.length) {
      components.push({ component: 'scep', status: 'warning', message: `${all.length - urls.length} more SCEP URLs were not checked (at most ${MAX_PROBED_SCEP_URLS})` });
    }
    return components;
  }

  #probe(url: string): Promise<CapsProbeResult> {
    const cached = this.#probes.get(url);
    const cacheMs = this.d.probeCacheMs ?? SCEP_PROBE_CACHE_MS;
    if (cached && Date.now() - cached.at < cacheMs) return cached.result;
    const result = (this.d.probe ?? probeGetCaCaps)(url, this.d.probeTimeoutMs ?? SCEP_PROBE_TIMEOUT_MS);
    this.#probes.set(url, { at: Date.now(), result });
    return result;
  }

  async #clock(now: Date): Promise<ComponentHealth> {
    const newest = await this.d.storage.listAudit({ limit: 1 }).catch(() => []);
    return clockHealth(now, validity(this.d.root.certificate).notBefore, newest[0] ? new Date(newest[0].at) : null);
  }
}

/** What the health report shows of an upstream's chain: the issuing CA and the root devices trust, and the last fetch error. */
function chainDetails(s: UpstreamChainState): Record<string, unknown> {
  const describe = (der: Uint8Array) => {
    const c = certificateOf(der);
    return { subject: c.subject.replace(/\n/g, ', '), sha256: c.fingerprint256.replace(/:/g, '').toLowerCase(), notAfter: new Date(c.validTo).toISOString() };
  };
  const known = s.chain !== null;
  return {
    known,
    ...(s.chain && { source: s.source, fetchedAt: s.fetchedAt, certificates: s.chain.chain.length, ca: describe(s.chain.chain[0]!), root: { ...describe(s.chain.root), selfSigned: s.chain.rootSelfSigned } }),
    lastFetchError: s.lastError,
  };
}

/** The chain's part of an upstream's status: unknown (deliveries held), a pin mismatch, an expired root, a root the upstream does not publish. */
function upstreamChainProblem(name: string, s: UpstreamChainState, now: Date): Pick<ComponentHealth, 'status' | 'message'> | null {
  const held = `deliveries of its profiles are held until it is (profiles with trustedRootCertificate excepted)`;
  if (!s.chain) {
    if (!s.lastError) return { status: 'warning', message: `the chain of upstream CA ${name} has not been fetched yet; ${held}` };
    return { status: 'error', message: `the chain of upstream CA ${name} is not known: ${s.lastError.message}; ${held}` };
  }
  if (new Date(certificateOf(s.chain.root).validTo) < now) return { status: 'error', message: `the root of upstream CA ${name} has expired` };
  if (s.lastError && /caFingerprint/.test(s.lastError.message)) {
    return { status: 'error', message: `upstream CA ${name} now publishes a chain that fails its pin (${s.lastError.message}); devices still get the last good chain` };
  }
  if (!s.chain.rootSelfSigned) return { status: 'warning', message: `upstream CA ${name} does not publish its root: devices get its top certificate as trust anchor; set trustedRootCertificate on its profiles` };
  return null;
}

function validity(der: Uint8Array): { notBefore: Date; notAfter: Date } {
  const c = certificateOf(der);
  return { notBefore: new Date(c.validFrom), notAfter: new Date(c.validTo) };
}
