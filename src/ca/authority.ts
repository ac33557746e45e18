// The built-in certificate authority: issues end-entity certificates signed by
// the root key through PrivateKeyOps (software key or PKCS#11 token).

import type { HashAlgorithm, KeyUsageName, RdnAttribute, SanEntry } from '../core/model.js';
import type { KeyedCertificate } from '../x509/keys.js';
import { fingerprints, parseTime, readCertificate, subjectKeyIdentifierOf, type CertificateFingerprints } from '../x509/cert-raw.js';
import { DerError } from '../x509/asn1/der-error.js';
import { encodeName, formatDn } from '../x509/names.js';
import { randomSerialNumber } from './serial.js';
import { publicationUrls, type Publication } from './publication.js';
import {
  authorityInfoAccess,
  authorityKeyIdentifier,
  basicConstraints,
  buildCertificate,
  crlDistributionPoints,
  extendedKeyUsage,
  hashName,
  keyIdentifierFor,
  keyUsage,
  ntdsCaSecurity,
  subjectAltName,
  subjectKeyIdentifier,
  type Extension,
} from './certificate-builder.js';

export interface IssueSpec {
  subject: RdnAttribute[];
  subjectAlternativeNames: SanEntry[];
  extendedKeyUsages: string[];
  keyUsage: KeyUsageName[];
  validityDays: number;
  hashAlgorithm: HashAlgorithm;
  /** DER SubjectPublicKeyInfo of the requester's key (from the verified CSR). */
  spki: Uint8Array;
  /** Defaults to now - 5 minutes (clock skew on devices). */
  notBefore?: Date;
  /**
   * Leave out the CRL Distribution Point and AIA even when the CA publishes
   * them: for the OCSP responder's own certificate (id-pkix-ocsp-nocheck
   * instead; an OCSP URL in it would send clients in a circle).
   */
  omitRevocationInfo?: boolean;
  /** The account's SID for the NTDS CA security extension (strong certificate mapping); none when absent. */
  securityIdentifier?: string;
}

export interface AuthorityOptions {
  /** Where this CA's CRL, certificate and OCSP responder are published; every certificate it issues points there. */
  publication?: Publication;
  /** The gateway's clock (createGateway's `now`), what notBefore is counted from; the system clock by default. */
  now?: () => Date;
}

export interface IssuedCert extends CertificateFingerprints {
  der: Uint8Array;
  /** The signing CA's id (CertificateAuthority.id). */
  issuerId: string;
  serialNumber: string; // lower-case hex
  subject: string; // formatDn(spec.subject)
  notBefore: Date;
  notAfter: Date;
}

/** Backdating of notBefore so devices with a slightly slow clock accept the certificate at once. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export class CertificateAuthority {
  /**
   * Lower-case hex of the CA's subject key identifier: the same bytes every
   * certificate it signs carries as its authority key identifier, so a
   * certificate, a CRL and an OCSP request all name their CA by it.
   */
  readonly id: string;
  readonly certificate: Uint8Array;
  readonly notAfter: Date;
  /** The CA's certificate and key: CRLs and the OCSP responder's certificate are signed with it. */
  readonly root: KeyedCertificate;
  private readonly issuerName: Uint8Array;
  private readonly aki: Extension;
  private readonly now: () => Date;
  /** CDP and AIA, encoded once (the issuance hot path); empty without a publication. */
  private readonly revocationInfo: Extension[];

  constructor(root: KeyedCertificate, options: AuthorityOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.root = root;
    this.certificate = root.certificate;
    const parsed = readCertificate(root.certificate);
    this.issuerName = parsed.subjectName;
    this.notAfter = parseTime(parsed.notAfter);
    // AKI = the root's own SKI bytes, copied (a recomputed identifier can differ
    // from what the root advertises, and then chain building fails). Only a
    // root without SKI falls back to the RFC 5280 method (1) value.
    const ski = subjectKeyIdentifierOf(parsed) ?? keyIdentifierFor(parsed.spki);
    this.aki = authorityKeyIdentifier(ski);
    this.id = Buffer.from(ski).toString('hex');
    const urls = options.publication ? publicationUrls(options.publication, this.id) : null;
    this.revocationInfo = urls ? [crlDistributionPoints([urls.crl]), authorityInfoAccess({ ocsp: urls.ocsp, caIssuers: urls.caIssuers })] : [];
  }

  /** The DER Name of this CA (the issuer of everything it signs, CRLs included). */
  get name(): Uint8Array {
    return this.issuerName;
  }

  async issue(spec: IssueSpec): Promise<IssuedCert> {
    if (!(spec.validityDays > 0) || !Number.isFinite(spec.validityDays)) {
      throw new DerError(`validityDays must be a positive number, got ${spec.validityDays}`);
    }
    if (spec.subject.length === 0 && spec.subjectAlternativeNames.length === 0) {
      throw new DerError('a certificate needs a subject or a subject alternative name');
    }
    // Whole seconds: what is encoded is what is returned (and stored).
    const nb = spec.notBefore ?? new Date(this.now().getTime() - CLOCK_SKEW_MS);
    const notBefore = new Date(Math.floor(nb.getTime() / 1000) * 1000);
    let notAfter = new Date(notBefore.getTime() + Math.round(spec.validityDays * DAY_MS));
    if (notAfter.getTime() > this.notAfter.getTime()) notAfter = this.notAfter;
    if (notAfter.getTime() <= notBefore.getTime()) {
      throw new DerError('the CA certificate expires before the requested notBefore');
    }

    const extensions: Extension[] = [];
    if (spec.keyUsage.length > 0) extensions.push(keyUsage(spec.keyUsage));
    if (spec.extendedKeyUsages.length > 0) extensions.push(extendedKeyUsage(spec.extendedKeyUsages));
    if (spec.subjectAlternativeNames.length > 0) {
      const san = subjectAltName(spec.subjectAlternativeNames);
      // RFC 5280 4.2.1.6: with an empty subject the SAN extension must be critical.
      extensions.push(spec.subject.length === 0 ? { ...san, critical: true } : san);
    }
    if (spec.securityIdentifier !== undefined) extensions.push(ntdsCaSecurity(spec.securityIdentifier));
    extensions.push(basicConstraints(false), this.aki, subjectKeyIdentifier(keyIdentifierFor(spec.spki)));
    if (!spec.omitRevocationInfo) extensions.push(...this.revocationInfo);

    const serialNumber = randomSerialNumber();
    const der = await buildCertificate({
      serialNumber,
      issuerName: this.issuerName,
      subjectName: encodeName(spec.subject),
      notBefore,
      notAfter,
      spki: spec.spki,
      extensions,
      hash: hashName(spec.hashAlgorithm ?? 'SHA-256'),
      signer: this.root.key,
    });
    return {
      der,
      serialNumber,
      issuerId: this.id,
      subject: formatDn(spec.subject),
      notBefore,
      notAfter,
      ...fingerprints(der),
    };
  }
}
