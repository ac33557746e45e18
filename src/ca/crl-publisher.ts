// Keeps one signed CRL per CA (every CA in `authorities`, retired ones too)
// and decides when to sign a new one:
//  - when the CA's revoked set changed. Revocations come from many code paths
//    (admin revoke, device block, retire, renewal...) and from other gateway
//    instances sharing the database, so the change is detected in the database
//    on every request (count + newest revocation time, one indexed query),
//    never from an in-process event;
//  - when the cached CRL reaches its refresh time, half its validity, so a
//    relying party never holds one past nextUpdate while a newer one exists.
// Nothing runs in the background: when nobody asks, nothing is signed, and
// the first request after the refresh time (or after a revocation) gets a
// freshly signed CRL. Relying parties stop trusting the last one they fetched
// at its nextUpdate, so silence never extends a CRL's life.

import { fromHex } from '../x509/asn1/bytes.js';
import type { RevocationReason } from '../core/model.js';
import type { Authorities } from './authorities.js';
import type { CertificateAuthority } from './authority.js';
import { buildCrl } from './crl.js';

/** What the publisher reads from storage (src/core/storage's Storage has all of it). */
export interface RevocationSource {
  listRevoked(issuerId: string): Promise<Array<{ serialNumber: string; revokedAt: string; reason: RevocationReason }>>;
  revokedSetState(issuerId: string): Promise<{ count: number; latest: string | null }>;
  nextCrlNumber(issuerId: string): Promise<number>;
  getCertificate(serialNumber: string): Promise<{ issuerId: string | null } | null>;
}

export interface CrlPublisherOptions {
  source: RevocationSource;
  authorities: Authorities;
  /** nextUpdate - thisUpdate (MDMGW_CRL_VALIDITY_HOURS). */
  validityHours: number;
  now?: () => Date;
}

export interface PublishedCrl {
  caId: string;
  der: Uint8Array;
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
  /** When the publisher signs a new one even if nothing changed: halfway to nextUpdate. */
  refreshAt: Date;
}

interface Built {
  crl: PublishedCrl;
  /** The revoked-set state the CRL was built from (revokedSetState as a string). */
  state: string;
}

const HOUR_MS = 3600_000;

const stateKey = (s: { count: number; latest: string | null }): string => `${s.count}|${s.latest ?? ''}`;

export class CrlPublisher {
  readonly #source: RevocationSource;
  readonly #authorities: Authorities;
  readonly #validityMs: number;
  readonly #now: () => Date;
  readonly #cache = new Map<string, Built>();
  readonly #building = new Map<string, Promise<Built>>();

  constructor(opts: CrlPublisherOptions) {
    if (!(opts.validityHours > 0)) throw new RangeError(`CRL validity must be positive, got ${opts.validityHours} hours`);
    this.#source = opts.source;
    this.#authorities = opts.authorities;
    this.#validityMs = opts.validityHours * HOUR_MS;
    this.#now = opts.now ?? (() => new Date());
  }

  /** The current CRL of the CA `caId`, signing a new one when needed; null for a CA we do not have. */
  async current(caId: string): Promise<PublishedCrl | null> {
    const ca = this.#authorities.byId(caId);
    if (!ca) return null;
    const state = stateKey(await this.#source.revokedSetState(ca.id));
    const cached = this.#cache.get(ca.id);
    if (cached && cached.state === state && this.#now().getTime() < cached.crl.refreshAt.getTime()) return cached.crl;
    // Concurrent requests share one signature (and one CRL Number) when it covers what they saw.
    const inFlight = this.#building.get(ca.id);
    if (inFlight) {
      const built = await inFlight;
      if (built.state === state) return built.crl;
    }
    return (await this.#rebuild(ca)).crl;
  }

  /**
   * SCEP GetCRL names a certificate by issuer Name and serial: the CRL of the
   * CA that signed it. The serial decides between CAs with the same name (a
   * rollover that kept the name); null when no CA has that name.
   */
  async forIssuerAndSerial(issuerName: Uint8Array, serialNumber: string): Promise<PublishedCrl | null> {
    const named = this.#authorities.all.filter((ca) => Buffer.from(ca.name).equals(Buffer.from(issuerName)));
    if (named.length === 0) return null;
    const signer = named.length > 1 ? (await this.#source.getCertificate(serialNumber))?.issuerId : undefined;
    const ca = named.find((c) => c.id === signer) ?? named[0]!;
    return this.current(ca.id);
  }

  async #rebuild(ca: CertificateAuthority): Promise<Built> {
    const pending = this.#build(ca);
    this.#building.set(ca.id, pending);
    try {
      const built = await pending;
      // A slower build must not replace a CRL with a higher number.
      const cached = this.#cache.get(ca.id);
      if (!cached || cached.crl.crlNumber < built.crl.crlNumber) this.#cache.set(ca.id, built);
      return built;
    } finally {
      if (this.#building.get(ca.id) === pending) this.#building.delete(ca.id);
    }
  }

  async #build(ca: CertificateAuthority): Promise<Built> {
    const revoked = await this.#source.listRevoked(ca.id);
    const crlNumber = await this.#source.nextCrlNumber(ca.id);
    // Whole seconds: what is encoded is what the HTTP headers say.
    const thisUpdate = new Date(Math.floor(this.#now().getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.#validityMs);
    const refreshAt = new Date(thisUpdate.getTime() + Math.floor(this.#validityMs / 2));
    const der = await buildCrl({
      issuerName: ca.name,
      authorityKeyId: fromHex(ca.id),
      crlNumber,
      thisUpdate,
      nextUpdate,
      entries: revoked.map((r) => ({ serialNumber: r.serialNumber, revokedAt: new Date(r.revokedAt), reason: r.reason })),
      signer: ca.root.key,
    });
    // The state of exactly what was listed, so a revocation that lands while
    // signing is seen as a change by the next request.
    const latest = revoked.reduce<string | null>((m, r) => (m === null || r.revokedAt > m ? r.revokedAt : m), null);
    return { crl: { caId: ca.id, der, crlNumber, thisUpdate, nextUpdate, refreshAt }, state: stateKey({ count: revoked.length, latest }) };
  }
}
