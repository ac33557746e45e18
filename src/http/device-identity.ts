import { X509Certificate, createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LruCache } from '../x509/lru-cache.js';
import type { TLSSocket } from 'node:tls';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { revokeSuperseded, supersedesNow } from '../core/identity-renewal.js';
import type { Device, IssuedCertificate, Platform } from '../core/model.js';
import type { DirectoryStore, IssuanceStore, AuditStore } from '../core/storage/storage.js';
import type { Logger } from '../log.js';
import type { PlanGenerations } from '../core/storage/plan-generation-store.js';

// Device check-ins are authenticated by the device identity certificate our
// CA issued (POST /api/v1/devices/:id/identity-challenge, then SCEP). The
// certificate arrives either on our own TLS connection (--tls-cert/--tls-key,
// client certificate requested) or from a trusted TLS-terminating proxy in the
// header named by MDMGW_CLIENT_CERT_HEADER as URL-encoded PEM (nginx's
// $ssl_client_escaped_cert). The header is ignored unless that is configured,
// so a client cannot claim an identity by sending it. A request with more
// than one such header, or more than one certificate in it, is refused (400):
// a proxy that appends instead of replacing would otherwise let the client's
// own header win.
//
// A retiring device (POST /api/v1/devices/:id/retire) still authenticates, to
// receive the removal of its profiles, until it is retired (core/retirement.ts).
//
// A blocked device (POST /api/v1/devices/:id/block) is refused with 403 even
// though its certificate is otherwise ours: the block is checked before
// revocation, so the device and its admin see why.
//
// Only the device's newest unrevoked identity certificate speaks for it: after
// a re-enrollment (e.g. the admin's reset with an enrollment token made for the
// device) the certificate it superseded, which a clone or a thief's copy of
// the key may still hold, is refused (401), on every platform.
//
// A renewal is the exception until it is confirmed (core/identity-renewal.ts):
// the identity it renews is still accepted while the device has not used the
// new one (it may have failed to install it). The first request authenticated
// by the renewal confirms it, and revokes the older identities (`superseded`).

export interface IdentityOptions {
  storage: DirectoryStore & IssuanceStore & AuditStore;
  caCertificate: Uint8Array;
  /** CAs retired by a rollover that still have unexpired certificates: their device identities keep checking in. */
  retiredCaCertificates?: readonly Uint8Array[];
  clientCertHeader: string | undefined;
  log: Logger;
  /** The gateway's clock, what validity is checked against; the system clock by default. */
  now?: () => Date;
  /** Whether a retiring device's removal grace period has ended (core/retirement.ts): it is refused like a retired one. */
  retirementGraceEnded?: (device: Device, now: Date) => boolean;
}

/** `status`: 401 when the certificate does not identify a device, 403 when it does but the device is blocked. */
/**
 * `planGenerations`: the device's plan generations read in the identity's own
 * statement, when nothing was written after it (no renewal confirmed): a
 * kept check-in keys its answer by them without a read of its own.
 */
export type IdentityResult = { ok: true; device: Device; serialNumber: string; planGenerations?: PlanGenerations } | { ok: false; reason: string; status: 401 | 403 };

/** A request's identity verdict and the SHA-1 thumbprint (upper-case hex) of the certificate it was reached for. */
interface Verdict {
  result: IdentityResult;
  thumbprint: string;
}

/** A presented certificate's SHA-256 (hex: the issuance record's) and SHA-1 thumbprint (upper-case hex). */
interface Digests {
  sha256: string;
  thumbprint: string;
}

/** What the request presents: a certificate (with its digests when they were known), nothing, or something we refuse to choose from (400). */
type Presented = { der: Uint8Array; digests?: Digests } | { none: true } | { invalid: string };

declare module 'express-serve-static-core' {
  interface Locals {
    device?: Device;
    /** SHA-1 thumbprint (upper-case hex) of the identity certificate that authenticated res.locals.device. */
    identityThumbprint?: string;
    /** The device's plan generations, read with its identity (AdapterServices.planGeneration's `read`). */
    planGenerations?: PlanGenerations;
  }
}

/** Identity certificates whose parsed form and CA-signature verdict are kept (about 200 bytes each). */
export const IDENTITY_CACHE_ENTRIES = 10_000;
/** Proxy certificate headers kept decoded, by their exact value (about 3 KiB each: the header, the DER, two digests). */
export const PROXY_HEADER_CACHE_ENTRIES = 10_000;

const digestsOf = (der: Uint8Array): Digests => ({
  sha256: createHash('sha256').update(der).digest('hex'),
  thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase(),
});

interface ParsedIdentity {
  validFrom: Date;
  validTo: Date;
  serialNumber: string;
}

export function createDeviceAuthenticator(o: IdentityOptions) {
  const cas = [o.caCertificate, ...(o.retiredCaCertificates ?? [])].map((der) => new X509Certificate(der));
  // What the certificate bytes alone decide (parse, CA signature, validity window, serial) is the
  // same on every check-in: kept per DER hash, bounded, for this authenticator's fixed CA set (issue 13).
  const parsed = new LruCache<string, ParsedIdentity | 'unparseable' | 'foreign'>(IDENTITY_CACHE_ENTRIES);
  function parseIdentity(der: Uint8Array): ParsedIdentity | 'unparseable' | 'foreign' {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch {
      return 'unparseable';
    }
    if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) return 'foreign';
    return { validFrom: new Date(cert.validFrom), validTo: new Date(cert.validTo), serialNumber: cert.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '') };
  }

  /** Whether the device has an unrevoked identity certificate issued after this one that supersedes it now. */
  function superseded(record: IssuedCertificate, issued: readonly IssuedCertificate[]): boolean {
    return issued.some((c) => c.serialNumber !== record.serialNumber && c.revokedAt === null && c.issuedAt > record.issuedAt && supersedesNow(c, record));
  }

  /** Verifies a presented certificate: ours, unexpired, not revoked, the device's newest identity, one device. */
  function verify(der: Uint8Array, now = (o.now ?? (() => new Date()))()): Promise<IdentityResult> {
    return verifyHashed(der, createHash('sha256').update(der).digest('hex'), now);
  }

  /** verify, with the DER's SHA-256 (hex) already known. */
  async function verifyHashed(der: Uint8Array, sha256: string, now = (o.now ?? (() => new Date()))()): Promise<IdentityResult> {
    const refuse = (reason: string, status: 401 | 403 = 401): IdentityResult => ({ ok: false, reason, status });
    const cert = parsed.getOrSet(sha256, () => parseIdentity(der));
    if (cert === 'unparseable') return refuse('client certificate does not parse');
    if (cert === 'foreign') return refuse('client certificate is not issued by this gateway CA');
    if (now < cert.validFrom || now > cert.validTo) return refuse('client certificate is expired or not yet valid');
    const serialNumber = cert.serialNumber;
    // The record, its device and whether the device has other live identities: one read (issue 13).
    const found = await o.storage.getCertificateWithDevice(serialNumber);
    const record = found?.certificate;
    if (!record || record.sha256 !== sha256) return refuse('client certificate is not in the issuance record');
    if (record.kind !== 'identity') return refuse('client certificate is not a device identity certificate');
    const device = record.deviceId ? found.device : null;
    if (!device) return refuse('client certificate maps to no device');
    if (device.blockedAt !== null) return refuse(`device ${device.id} is blocked by an administrator`, 403);
    if (device.retiredAt !== null) return refuse(`device ${device.id} is retired`, 403);
    // The housekeeping sweep retires it up to an hour late; its identity ends on time all the same.
    if (o.retirementGraceEnded?.(device, now)) return refuse(`device ${device.id} is retired (its removal grace period ended)`, 403);
    if (record.revokedAt) return refuse('client certificate is revoked');
    // Without another unrevoked identity on the device nothing supersedes this one and a renewal
    // has nothing left to revoke: the list is read only when there is one (a device holds few).
    if (!found.otherUnrevokedIdentities) return { ok: true, device, serialNumber, planGenerations: found.planGenerations };
    const issued = await o.storage.listCertificates({ deviceId: device.id, kind: 'identity' });
    if (superseded(record, issued)) return refuse('client certificate was superseded by a later enrollment of the device');
    // A renewal in use is confirmed: the identities it replaced stop here (revoked, superseded).
    if (record.renewalOf !== null) {
      const revoked = await revokeSuperseded(o.storage, record, now, `device:${device.id}`, issued);
      if (revoked.length > 0) o.log.info({ deviceId: device.id, serialNumber, revoked }, 'renewed identity confirmed in use; superseded identities revoked');
    }
    return { ok: true, device, serialNumber };
  }

  function presented(req: IncomingMessage): Presented {
    const socket = req.socket as Partial<TLSSocket>;
    if (typeof socket.getPeerCertificate === 'function') {
      // We terminate TLS ourselves: only the certificate the client proved it
      // holds the key for counts. A header here would come from the client.
      const peer = socket.getPeerCertificate(false);
      return peer && peer.raw ? { der: peer.raw } : { none: true };
    }
    if (!o.clientCertHeader) return { none: true };
    // headersDistinct keeps repeated headers apart (req.headers joins them with ", ").
    const values = req.headersDistinct[o.clientCertHeader.toLowerCase()] ?? [];
    if (values.length > 1) return { invalid: `more than one ${o.clientCertHeader} header` };
    const h = values[0];
    if (h === undefined || h === '') return { none: true };
    // A device sends the same header on every check-in: decoded once (a pure function of its exact text).
    const known = fromHeader.get(h);
    if (known) return known;
    const p = fromHeaderText(h);
    if ('der' in p) fromHeader.set(h, p);
    return p;
  }

  const fromHeader = new LruCache<string, { der: Uint8Array; digests: Digests }>(PROXY_HEADER_CACHE_ENTRIES);

  /** The certificate in a proxy header's value (URL-encoded PEM): one, none, or more than one (refused). */
  function fromHeaderText(h: string): { der: Uint8Array; digests: Digests } | { none: true } | { invalid: string } {
    let pem: string;
    try {
      pem = decodeURIComponent(h);
    } catch {
      return { none: true };
    }
    const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g)];
    if (blocks.length > 1) return { invalid: `more than one certificate in the ${o.clientCertHeader} header` };
    if (blocks.length === 0) return { none: true };
    const der = Buffer.from(blocks[0]![1]!.replace(/\s+/g, ''), 'base64');
    return { der, digests: digestsOf(der) };
  }

  // The verdict per request object, whoever reached it first (the fast check-in path through
  // presentedDevice, or the middleware): the other reuses it instead of repeating the reads and the
  // crypto, so a request handed from the fast path to the route (a refusal, a miss) is verified
  // once (issue 13). Keyed by the IncomingMessage itself, which a client cannot name or forge;
  // the certificate it was reached for is the request's own (`presented` reads only the request).
  const verdicts = new WeakMap<IncomingMessage, Verdict>();
  const verifiedFor = (req: IncomingMessage) => verdicts.get(req);

  /** The verdict on the certificate this request presents (kept for the request), or null when it presents none or an ambiguous one. */
  async function verdictFor(req: IncomingMessage): Promise<Verdict | null> {
    const known = verdicts.get(req);
    if (known) return known;
    const p = presented(req);
    if (!('der' in p)) return null;
    return verdictOn(req, p);
  }

  /** Verifies what the request presents and keeps the verdict for the request. */
  async function verdictOn(req: IncomingMessage, p: { der: Uint8Array; digests?: Digests }): Promise<Verdict> {
    const digests = p.digests ?? digestsOf(p.der);
    const v = { result: await verifyHashed(p.der, digests.sha256), thumbprint: digests.thumbprint };
    verdicts.set(req, v);
    return v;
  }

  /** Express middleware: sets res.locals.device, or answers 400 (ambiguous proxy header), 401 or 403 (blocked) with the reason. */
  const middleware = async (req: Request, res: Response, next: NextFunction) => {
    const p = presented(req);
    if ('invalid' in p) {
      o.log.warn({ path: req.path, reason: p.invalid }, 'device authentication refused');
      res.status(400).json({ error: `${p.invalid}: the request is ambiguous and is refused` });
      return;
    }
    if ('none' in p) {
      res.status(401).json({ error: 'device identity certificate required' });
      return;
    }
    const { result: r, thumbprint } = verdicts.get(req) ?? (await verdictOn(req, p));
    if (!r.ok) {
      o.log.warn({ path: req.path, reason: r.reason }, 'device authentication failed');
      res.status(r.status).json({ error: r.reason });
      return;
    }
    res.locals.device = r.device;
    // Routes that also need the certificate itself (Windows: which enrollment's identity) read this instead of verifying again.
    res.locals.identityThumbprint = thumbprint;
    // Read with the identity, before anything the route reads: a check-in memo keys on them without a read of its own.
    if (r.planGenerations) res.locals.planGenerations = r.planGenerations;
    next();
  };

  // presented: for routes where a certificate is optional (Windows re-enrollment proves the device with it).
  return { verify, middleware, presented, verifiedFor, verdictFor };
}

/** How a refusal names the platforms an adapter serves ("not a Windows device's"). */
const PLATFORM_LABELS: Record<Platform, string> = { windows: 'a Windows', ios: 'an iOS', macos: 'a macOS', android: 'an Android' };

/**
 * The authenticator bound to an adapter's platforms: an identity certificate
 * is a device's, and a device of another platform is not one this adapter
 * speaks for (403), in one place instead of one check per route.
 */
export function boundToPlatforms(auth: RequestHandler, platforms: readonly Platform[]): RequestHandler {
  const label = platforms.map((p) => PLATFORM_LABELS[p]).join(' or ');
  return (req, res, next) =>
    auth(req, res, (err?: unknown) => {
      if (err) return next(err);
      const device = res.locals.device as Device | undefined;
      if (!device || !platforms.includes(device.platform)) {
        res.status(403).json({ error: `this identity certificate is not ${label} device's` });
        return;
      }
      next();
    });
}
