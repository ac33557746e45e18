import type { ResolvedRequest } from './model.js';

// What core needs from a CA: turn an approved, resolved request and the
// device's public key into a certificate. The built-in CA (src/ca/issuer.ts)
// implements it; so do the upstream-CA connectors (src/ca/upstream/), which
// forward the device's own CSR to an existing CA.

export interface IssuedCertificateData {
  der: Uint8Array;
  serialNumber: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  thumbprint: string;
  sha256: string;
  /** The signing CA's id (CertificateAuthority.id), recorded with the certificate. */
  issuerId: string;
}

/**
 * The approved request as it came in: an upstream CA is sent the device's CSR
 * itself (the gateway does not have the device's key, so it cannot re-sign
 * one). The built-in CA ignores it.
 */
export interface IssueContext {
  csrDer: Uint8Array;
  transactionId: string;
}

export interface CertificateIssuer {
  issue(resolved: ResolvedRequest, spki: Uint8Array, context?: IssueContext): Promise<IssuedCertificateData>;
}

/**
 * Thrown by an issuer whose CA answered "later" (an upstream SCEP CA's
 * PENDING, an EST server's 202): the enrollment becomes PENDING here and a
 * poller asks again with `state` (opaque to core, kept in upstream_requests).
 */
export class IssuancePending extends Error {
  constructor(
    /** The upstream's configured name. */
    readonly upstream: string,
    /** What the upstream connector needs to ask again (JSON-serialisable, no secrets). */
    readonly state: Record<string, unknown>,
  ) {
    super(`upstream CA ${upstream} answered PENDING`);
    this.name = 'IssuancePending';
  }
}

/** Thrown by an issuer whose CA refused the request (SCEP FAILURE, EST 4xx) or could not be reached. */
export class IssuanceRefused extends Error {
  constructor(
    readonly upstream: string,
    /** 'refused': the CA said no; 'unavailable': it could not be asked or its answer was unusable. */
    readonly kind: 'refused' | 'unavailable',
    message: string,
    /** The upstream's own code (SCEP failInfo, EST HTTP status), for the audit log. */
    readonly upstreamCode?: string,
  ) {
    super(message);
    this.name = 'IssuanceRefused';
  }
}

/**
 * An upstream CA (ca/upstream/): a CertificateIssuer that can also be asked
 * again about a request it left PENDING (core/upstream-poller.ts does).
 */
export interface UpstreamConnector extends CertificateIssuer {
  readonly name: string;
  readonly kind: 'scep' | 'est';
  /** Seconds between two polls of a PENDING request. */
  readonly pollSeconds: number;
  /** A request still PENDING this long after it was forwarded is rejected; unset: the poller's default. */
  readonly maxPendingHours?: number;
  /**
   * Asks again about a request the upstream left PENDING (`state` as the
   * IssuancePending carried it; `csrDer` the device's CSR). Returns the
   * certificate, or throws IssuancePending (still pending) or IssuanceRefused.
   */
  poll(state: Record<string, unknown>, csrDer: Uint8Array): Promise<IssuedCertificateData>;
  /** The upstream's CA certificates as last fetched (health view), empty before the first contact. */
  caCertificates(): readonly Uint8Array[];
  /** SHA-256 (hex, colons allowed) of the upstream CA certificate its chain must contain; unset: not pinned. */
  readonly caFingerprint?: string;
  /**
   * Everything the upstream publishes as its CA certificates (SCEP GetCACert,
   * EST /cacerts), unchecked and unordered: ca/upstream/upstream-chain.ts
   * checks the pin and orders the chain. Throws IssuanceRefused 'unavailable'.
   */
  fetchCaCertificates(): Promise<Uint8Array[]>;
  /** How the last exchange with the upstream went (health view); null before the first. */
  lastContact(): UpstreamContact | null;
}

export interface UpstreamContact {
  at: string;
  /** false: unreachable or an unusable answer; a PENDING or a refusal is an answer. */
  ok: boolean;
  message: string;
}
