// The OCSP responder (RFC 6960): turns request DER into response DER and never
// throws. Bad input is answered malformedRequest, a CertID naming none of our
// CAs unauthorized, a token that cannot sign now tryLater, a failure of ours
// internalError, each as an OCSP response.
//
// Status comes from the certificate's row, read on every request (a primary
// key read, cheap next to the RSA signature): good, revoked (time, reason) or
// unknown (never issued, or issued by another of our CAs). A certificate past
// its notAfter keeps its recorded status (RFC 6960 allows it; rows are never
// purged). Single-CertID requests without a nonce are answered from the
// cache while the row says what the cached response says and the response is
// younger than half its validity; nonce'd ones (RFC 8954) are signed fresh.

import { createHash } from 'node:crypto';
import type { IssuedCertificate } from '../../core/model.js';
import type { Logger } from '../../log.js';
import type { Authorities } from '../authorities.js';
import type { CertificateAuthority } from '../authority.js';
import { issuerMatcher, type IssuerMatcher } from './issuer-match.js';
import { OcspRequestError, parseOcspRequest, type CertId, type OcspRequest } from './request-parser.js';
import { ResponderCertificates, ResponderUnavailableError, type Responder, type ResponderCertificateOptions } from './responder-certificate.js';
import { ResponseCache, type CachedResponse } from './response-cache.js';
import { buildSignedResponse, errorResponse, type CertStatus, type OcspErrorStatus } from './response-builder.js';
import { toHex } from '../../x509/asn1/bytes.js';
import { TokenError } from '../pkcs11/token.js';

export const DEFAULT_OCSP_VALIDITY_MINUTES = 60;

/** What the HTTP layer needs: the DER, and for cacheable answers the HTTP cache fields. */
export interface OcspAnswer {
  der: Uint8Array;
  /** good/revoked/unknown for a signed answer (of the first CertID), else the error status. */
  outcome: CertStatus['status'] | OcspErrorStatus;
  /** Set for signed answers without a nonce whose status is good or revoked. */
  cacheable: { etag: string; producedAt: Date; nextUpdate: Date } | null;
}

export interface OcspResponderOptions {
  authorities: Authorities;
  /** Only the status read is used (several instances may share the database). */
  storage: { getCertificate(serialNumber: string): Promise<IssuedCertificate | null> };
  dataDir: string;
  passphrase?: string;
  organization?: string;
  validityMinutes?: number;
  log: Logger;
  now?: () => Date;
  cacheEntries?: number;
  /** Where a CA's responder key lives when not in files (a token CA's: pkcs11/token-responder-keys.ts). */
  keyStoreFor?: ResponderCertificateOptions['keyStoreFor'];
}

export class OcspResponder {
  readonly cache: ResponseCache;
  readonly responders: ResponderCertificates;
  private readonly matcher: IssuerMatcher;
  private readonly validityMs: number;
  private readonly now: () => Date;

  constructor(private readonly opts: OcspResponderOptions) {
    this.now = opts.now ?? (() => new Date());
    this.validityMs = (opts.validityMinutes ?? DEFAULT_OCSP_VALIDITY_MINUTES) * 60_000;
    this.matcher = issuerMatcher(opts.authorities);
    this.cache = new ResponseCache(opts.cacheEntries);
    this.responders = new ResponderCertificates({ dataDir: opts.dataDir, passphrase: opts.passphrase, organization: opts.organization, log: opts.log, now: this.now, keyStoreFor: opts.keyStoreFor });
  }

  /** Loads or creates every CA's responder certificate (at start, so the first request does not wait for a key). */
  async prepare(): Promise<void> {
    for (const ca of this.opts.authorities.all) {
      try {
        await this.responders.get(ca);
      } catch (e) {
        if (!(e instanceof ResponderUnavailableError)) throw e;
        this.opts.log.info({ caId: ca.id }, e.message);
      }
    }
  }

  async respond(der: Uint8Array): Promise<OcspAnswer> {
    let request: OcspRequest;
    try {
      request = parseOcspRequest(der);
    } catch (e) {
      // Anything the parser throws is about the request's bytes: still an OCSP answer, never an HTTP 500.
      if (e instanceof OcspRequestError) this.opts.log.debug({ reason: e.message, bytes: der.length }, 'OCSP request refused: malformedRequest');
      else this.opts.log.warn({ err: e, bytes: der.length }, 'OCSP request parser failed unexpectedly; answered malformedRequest');
      return refusal('malformedRequest');
    }
    const ca = this.issuerOf(request.certIds);
    if (!ca) return refusal('unauthorized');
    try {
      return await this.answer(ca, request);
    } catch (e) {
      if (e instanceof ResponderUnavailableError) return refusal('unauthorized');
      // The responder key's token is unreachable (HSM down, key removed): OCSP's "temporarily unable to respond".
      if (e instanceof TokenError) {
        this.opts.log.error({ caId: ca.id, reason: e.message }, 'OCSP response failed: the PKCS#11 token is not available; answered tryLater');
        return refusal('tryLater');
      }
      this.opts.log.error({ err: e, caId: ca.id }, 'OCSP response failed');
      return refusal('internalError');
    }
  }

  /** The one CA every CertID names, or null (none of ours, or several: one responder signs the answer). */
  private issuerOf(certIds: readonly CertId[]): CertificateAuthority | null {
    let ca: CertificateAuthority | null = null;
    for (const c of certIds) {
      const m = this.matcher.match(c);
      if (!m || (ca && m !== ca)) return null;
      ca = m;
    }
    return ca;
  }

  private async answer(ca: CertificateAuthority, request: OcspRequest): Promise<OcspAnswer> {
    const statuses = await Promise.all(request.certIds.map((c) => this.statusOf(ca, c)));
    const responder = await this.responders.get(ca);
    const only = request.certIds.length === 1 && request.nonce === null && statuses[0]!.status !== 'unknown';
    if (!only) {
      const signed = await this.sign(responder, request, statuses);
      return { der: signed.der, outcome: statuses[0]!.status, cacheable: null };
    }
    const key = `${ca.id}:${toHex(request.certIds[0]!.der)}`;
    const statusKey = statusKeyOf(statuses[0]!);
    const cached = this.cache.get(key);
    if (cached && this.stillServes(cached, statusKey, responder)) return cachedAnswer(cached, statuses[0]!);
    const signed = await this.sign(responder, request, statuses);
    const entry: CachedResponse = { ...signed, statusKey, responderCertificate: responder.certificate, etag: etagOf(signed.der) };
    this.cache.set(key, entry);
    return cachedAnswer(entry, statuses[0]!);
  }

  /** Same status, same responder, and not past half its validity (a relying party gets at least half). */
  private stillServes(e: CachedResponse, statusKey: string, responder: Responder): boolean {
    const age = this.now().getTime() - e.thisUpdate.getTime();
    return e.statusKey === statusKey && e.responderCertificate === responder.certificate && age >= 0 && age < this.validityMs / 2;
  }

  private async statusOf(ca: CertificateAuthority, c: CertId): Promise<CertStatus> {
    const row = await this.opts.storage.getCertificate(c.serial);
    if (!row || row.issuerId !== ca.id) return { status: 'unknown' };
    if (row.revokedAt === null) return { status: 'good' };
    return { status: 'revoked', revokedAt: new Date(row.revokedAt), reason: row.revocationReason };
  }

  private async sign(responder: Responder, request: OcspRequest, statuses: CertStatus[]) {
    const thisUpdate = new Date(Math.floor(this.now().getTime() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.validityMs);
    const der = await buildSignedResponse({
      answers: request.certIds.map((c, i) => ({ certIdDer: c.der, certStatus: statuses[i]! })),
      responderKeyHash: responder.keyHash,
      responderCertificate: responder.certificate,
      signer: responder.key,
      producedAt: thisUpdate,
      thisUpdate,
      nextUpdate,
      nonce: request.nonce,
    });
    return { der, producedAt: thisUpdate, thisUpdate, nextUpdate };
  }
}

function refusal(status: OcspErrorStatus): OcspAnswer {
  return { der: errorResponse(status), outcome: status, cacheable: null };
}

function cachedAnswer(e: CachedResponse, status: CertStatus): OcspAnswer {
  return { der: e.der, outcome: status.status, cacheable: { etag: e.etag, producedAt: e.producedAt, nextUpdate: e.nextUpdate } };
}

function statusKeyOf(s: CertStatus): string {
  return s.status === 'revoked' ? `revoked:${Math.floor(s.revokedAt.getTime() / 1000)}:${s.reason ?? ''}` : s.status;
}

const etagOf = (der: Uint8Array): string => `"${createHash('sha256').update(der).digest('base64url').slice(0, 32)}"`;
