import type { CsrInfo } from '../core/csr-info.js';
import type { ScepRequestType } from '../core/policy-module.js';
import type { EnrollmentOutcome } from '../core/enrollment.js';
import { REASONS, type ReasonCode, type Refusal } from '../core/reasons.js';
import { readPkiMessage, ScepMessageError, writeCertRep, writeCertsOnly } from './codec/index.js';
import { writeSignedData } from './codec/signed-data.js';
import { publicKeyOf, readCmsCertificate } from './codec/cms-certificate.js';
import type { FailInfo, PkiMessage, ReplyContext } from './codec/index.js';
import { sameRdnSet } from '../core/profile/subject.js';
import { certificateInfo, verifyIssuedBy } from '../x509/certificate-info.js';
import { CsrParseError, parseCsr, parseDnDer } from '../x509/csr-parser.js';
import { formatDn } from '../x509/names.js';
import type { KeyedCertificate } from '../x509/keys.js';

// The SCEP protocol service (RFC 8894): GetCACaps, GetCACert and PKIOperation
// as bytes in, bytes out. Like micromdm/scep it knows nothing about HTTP or
// storage: decisions are delegated to a ScepBackend (the enrollment service).

/**
 * Reason code → CertRep failInfo. Core names a failInfo for every reason code
 * but cannot import the codec's type: this return type makes a name that is
 * not an RFC 8894 failInfo a compile error.
 */
export function failInfoFor(code: ReasonCode): FailInfo {
  return REASONS[code].failInfo;
}

export interface ScepBackend {
  enroll(req: {
    transactionId: string;
    messageType: ScepRequestType;
    /** A PKCSReq that may also be evaluated as a renewal when its challenge is unusable. */
    renewalFallback?: boolean;
    csr: CsrInfo;
    signerCertificate: Uint8Array;
    receivedAt: Date;
    /** The client address, for the per-source audit limit; absent: the request-source context (core/request-source.ts). */
    source?: string;
  }): Promise<EnrollmentOutcome>;
  /** The signer is passed so a renewal's poll (signed by the certificate being renewed) finds that renewal. */
  poll(transactionId: string, signerCertificate: Uint8Array, source?: string): Promise<EnrollmentOutcome>;
  certificate(serialNumber: string): Promise<Uint8Array | null>;
}

/**
 * GetCRL (RFC 8894 3.3.4): the DER CRL of the CA that issued the certificate
 * named by issuer Name and serial (lower-case hex), or null when no CA of ours
 * has that name. The service knows nothing about how CRLs are kept.
 */
export type CrlLookup = (issuerAndSerial: { issuer: Uint8Array; serialNumber: string }) => Promise<Uint8Array | null>;

/**
 * The CA certificate, intermediates and root GetCACert returns for a CA name
 * (null: the default CA); null for an unknown name; `unavailable` for a CA we
 * have whose chain is not known yet (an upstream CA: answered 503).
 */
export type CaChainLookup = (caName: string | null) => readonly Uint8Array[] | null | CaChainUnavailable;
export interface CaChainUnavailable {
  unavailable: string;
}

export interface ScepEvents {
  /** One line per protocol step, keyed by transaction id. */
  step(transactionId: string | null, message: string, fields?: Record<string, unknown>): void;
}

/** Capabilities are derived from what readPkiMessage/writeCertRep really do. */
export const CA_CAPABILITIES = ['POSTPKIOperation', 'Renewal', 'SHA-1', 'SHA-256', 'SHA-512', 'AES', 'DES3', 'SCEPStandard'] as const;
/** Added to GetCACaps only while a next RA exists (RFC 8894 3.5.2: advertised only when GetNextCACert has something to return). */
export const NEXT_CA_CAPABILITY = 'GetNextCACert';

/** The RA key pairs of this moment (ca/ra-renewal.ts RaKeeper renews them while the gateway runs). */
export interface RaSource {
  keys(): Promise<{ ra: KeyedCertificate; previousRa: KeyedCertificate | null; nextRa: KeyedCertificate | null }>;
}

/** A fixed RA (no renewal): tests and tools. */
export function fixedRa(ra: KeyedCertificate, previousRa: KeyedCertificate | null = null): RaSource {
  return { keys: async () => ({ ra, previousRa, nextRa: null }) };
}

/**
 * FAILURE and PENDING carry no envelope. We send a zero-length eContent (as
 * micromdm does) rather than none: OpenSSL's PKCS7_verify, which certmonger's
 * scep-submit uses, refuses a SignedData whose content is absent ("no content").
 */
const EMPTY_CONTENT = 'empty' as const;

const TRANSACTION_ID = /^[A-Za-z0-9 '()+,\-./:=?]{1,128}$/;

export interface PkiOperationResult {
  /** DER CertRep to send with application/x-pki-message. */
  body: Uint8Array;
  transactionId: string;
  status: 'SUCCESS' | 'FAILURE' | 'PENDING';
  reason?: ReasonCode;
}

interface PublishedAnswers {
  ra: KeyedCertificate;
  nextRa: KeyedCertificate | null;
  caps: string;
  caCert: Uint8Array;
}

export class ScepService {
  private readonly caCertificate: Uint8Array;
  private publishedFor: PublishedAnswers | null = null;

  constructor(
    /** The current RA (CertReps are signed by it, clients encrypt to it), the previous one and the next one. */
    private readonly ras: RaSource,
    /** The CA that issues: in GetCACert, and the signer of GetNextCACert (RFC 8894 4.7.1: "signed by the current CA signing key"). */
    private readonly ca: KeyedCertificate,
    private readonly backend: ScepBackend,
    private readonly events: ScepEvents,
    /** Retired CAs (after a rollover): a renewal signed by a certificate one of them issued is still ours. */
    private readonly retiredCaCertificates: readonly Uint8Array[] = [],
    /** Answers GetCRL; without it GetCRL is refused as an unsupported messageType. */
    private readonly crlFor: CrlLookup | null = null,
    /**
     * GetCACert's certificates after the RA for a CA name (the message
     * parameter; null: the default CA): the CA, its intermediates and its
     * root. Null for a name we do not have. Without it: the CA alone.
     */
    caChains: CaChainLookup | null = null,
  ) {
    this.caCertificate = ca.certificate;
    this.caChainFor = caChains ?? ((name) => (name === null ? [ca.certificate] : null));
    const own = this.caChainFor(null);
    this.chain = own && Array.isArray(own) ? own : [ca.certificate];
  }

  private readonly caChainFor: CaChainLookup;
  /** The default CA's chain: sent with every CertRep so a client can build the path to the root. */
  private readonly chain: readonly Uint8Array[];

  /**
   * Reads with the current RA, then (when the envelope is not for it) with the
   * previous one: a client that fetched GetCACert before an RA rollover
   * encrypts to it, and is answered signed by that RA.
   */
  private async read(der: Uint8Array): Promise<{ msg: PkiMessage; ra: KeyedCertificate }> {
    const { ra, previousRa } = await this.ras.keys();
    try {
      return { msg: await readPkiMessage(der, ra), ra };
    } catch (e) {
      if (!(previousRa && e instanceof ScepMessageError && e.code === 'DECRYPTION_FAILED')) throw e;
      try {
        return { msg: await readPkiMessage(der, previousRa), ra: previousRa };
      } catch {
        throw e; // report what the current RA said
      }
    }
  }

  async caCaps(): Promise<string> {
    return (await this.published()).caps;
  }

  /**
   * certs-only PKCS#7 (application/x-x509-ca-ra-cert; RFC 8894 4.2.1.2): the
   * RA first, then the CA and, for a subordinate CA, its intermediates and
   * root.
   */
  async caCert(): Promise<Uint8Array> {
    return (await this.published()).caCert;
  }

  /** GetCACert for the CA `caName` (the message parameter) names; null for a name we do not have. */
  async caCertFor(caName: string | null): Promise<Uint8Array | null | CaChainUnavailable> {
    if (caName === null) return this.caCert();
    const chain = this.caChainFor(caName);
    if (!chain || !Array.isArray(chain)) return chain as CaChainUnavailable | null;
    const { ra } = await this.ras.keys();
    return writeCertsOnly([ra.certificate, ...chain]);
  }

  /**
   * GetCACaps and the default CA's GetCACert depend only on the RA of the
   * moment: built once per RA (and next RA) instead of per request (issue 13);
   * an RA renewal hands out new key objects, so the comparison notices it.
   */
  private async published(): Promise<PublishedAnswers> {
    const { ra, nextRa } = await this.ras.keys();
    const p = this.publishedFor;
    if (p && p.ra === ra && p.nextRa === nextRa) return p;
    const caps = (nextRa ? [...CA_CAPABILITIES, NEXT_CA_CAPABILITY] : CA_CAPABILITIES).join('\n');
    this.publishedFor = { ra, nextRa, caps, caCert: writeCertsOnly([ra.certificate, ...this.chain]) };
    return this.publishedFor;
  }

  /**
   * GetNextCACert (RFC 8894 4.7): a SignedData signed by the current CA whose
   * content is a certs-only SignedData with the next RA and the CA it chains
   * to (application/x-x509-next-ca-cert); null while there is no next RA.
   */
  async nextCaCert(): Promise<Uint8Array | null> {
    const { nextRa } = await this.ras.keys();
    if (!nextRa) return null;
    return writeSignedData({
      eContent: writeCertsOnly([nextRa.certificate, this.caCertificate]),
      certificates: [this.caCertificate],
      signer: this.ca,
      digest: 'sha256',
      attributes: [],
    });
  }

  /**
   * Every readable request gets a signed CertRep, refusals included (iOS shows
   * "unknown SCEP problem" for a bare HTTP error). Only a message too broken to
   * answer (no transactionID, no signer) throws ScepMessageError with context null.
   * `source`: the client address, passed to the audit (see ScepBackend).
   */
  async pkiOperation(der: Uint8Array, source?: string): Promise<PkiOperationResult> {
    let msg: PkiMessage;
    let ra: KeyedCertificate;
    try {
      ({ msg, ra } = await this.read(der));
    } catch (e) {
      if (e instanceof ScepMessageError && e.context) {
        this.events.step(e.context.transactionId, 'pkiMessage refused', { reason: e.code, detail: e.message });
        // A codec failure code is a reason code too: this compiles only while that holds.
        return this.fail(e.context, { code: e.code, detail: e.message });
      }
      throw e;
    }
    const reply = msg.reply;
    // RFC 8894 makes transactionID a PrintableString; bounding it keeps a
    // client from filling the audit log, and keeps '|' free for renewal keys.
    if (!TRANSACTION_ID.test(msg.transactionId)) {
      return this.fail(reply, { code: 'MESSAGE_MALFORMED', detail: 'transactionID must be 1 to 128 PrintableString characters' }, ra);
    }
    this.events.step(msg.transactionId, 'pkiMessage received', {
      messageType: msg.messageType,
      digest: msg.digest,
      cipher: msg.cipher,
      signer: subjectOf(msg.signerCertificate),
    });
    // The certificate goes back encrypted to the requester's certificate by
    // RSA key transport (RFC 8894 section 3.3), so an EC requester cannot be
    // answered with SUCCESS: refuse before anything is issued or spent.
    if (publicKeyType(msg.signerCertificate) !== 'rsa') {
      return this.fail(reply, { code: 'UNSUPPORTED_ALGORITHM', detail: 'the requester certificate must have an RSA key: SCEP encrypts the reply to it' }, ra);
    }
    if (msg.payload.type === 'GetCRL') return this.crl(reply, msg.payload, ra);
    const outcome = await this.dispatch(msg, msg.payload, source);
    return this.answer(reply, outcome, ra);
  }

  private async dispatch(msg: PkiMessage, p: Exclude<PkiMessage['payload'], { type: 'GetCRL' }>, source: string | undefined): Promise<EnrollmentOutcome> {
    switch (p.type) {
      case 'PKCSReq':
      case 'RenewalReq': {
        let csr: CsrInfo;
        try {
          csr = await parseCsr(p.csr);
        } catch (e) {
          if (e instanceof CsrParseError) return { status: 'rejected', refusal: { code: 'MESSAGE_MALFORMED', detail: `CSR: ${e.message}` } };
          throw e;
        }
        // A PKCSReq signed by our certificate for its own subject may be a
        // renewal (see isLegacyRenewal). Without a challenge it can only be
        // one; with a challenge, the challenge decides, and the renewal rules
        // are the fallback when the challenge is unusable (certmonger resends
        // its spent one).
        const legacy = p.type === 'PKCSReq' && (await this.isLegacyRenewal(msg.signerCertificate, csr));
        const hasChallenge = (csr.challengePassword ?? '').trim() !== '';
        return this.backend.enroll({
          transactionId: msg.transactionId,
          messageType: legacy && !hasChallenge ? 'RenewalReq' : p.type,
          renewalFallback: legacy && hasChallenge,
          csr,
          signerCertificate: msg.signerCertificate,
          receivedAt: new Date(),
          ...(source !== undefined && { source }),
        });
      }
      case 'CertPoll':
        return this.backend.poll(msg.transactionId, msg.signerCertificate, source);
      case 'GetCert': {
        const serial = serialHex(p.serialNumber);
        const cert = await this.backend.certificate(serial);
        return cert
          ? { status: 'issued', certificate: cert }
          : { status: 'rejected', refusal: { code: 'CERTIFICATE_UNKNOWN', detail: `serial ${serial}` } };
      }
    }
  }

  /** GetCRL: SUCCESS with the CRL in a degenerate SignedData (crls, no certificates), enveloped like a certificate. */
  private async crl(reply: ReplyContext, p: { issuer: Uint8Array; serialNumber: Uint8Array }, ra: KeyedCertificate): Promise<PkiOperationResult> {
    if (!this.crlFor) return this.fail(reply, { code: 'UNSUPPORTED_MESSAGE_TYPE', detail: 'GetCRL is not served here' }, ra);
    const serial = serialHex(p.serialNumber);
    const crl = await this.crlFor({ issuer: p.issuer, serialNumber: serial });
    if (!crl) return this.fail(reply, { code: 'CERTIFICATE_UNKNOWN', detail: `GetCRL: no CA of ours issued serial ${serial} under that issuer name` }, ra);
    const body = await writeCertRep({ reply, status: 'SUCCESS', crls: [crl], signer: ra, chain: [...this.chain] });
    this.events.step(reply.transactionId, 'CertRep SUCCESS (CRL)', { cipher: reply.cipher, digest: reply.digest });
    return { body, transactionId: reply.transactionId, status: 'SUCCESS' };
  }

  /**
   * Renewal before RenewalReq existed (draft-nourse-scep, the "Renewal"
   * capability): a PKCSReq signed with the certificate being renewed.
   * certmonger 0.79 renews this way (`getcert resubmit`/`rekey` send
   * messageType 19 signed by the current certificate). Treated as a
   * RenewalReq when the signer is a certificate our CA signed and the CSR asks
   * for the signer's own subject; the CRP's renewal checks then require it to
   * be one we recorded, unexpired and unrevoked. A PKCSReq signed by one of our
   * certificates for ANOTHER subject stays a PKCSReq (challenge rules).
   * The codec has already verified the pkiMessage signature with the signer's key.
   */
  private async isLegacyRenewal(signer: Uint8Array, csr: CsrInfo): Promise<boolean> {
    // A certificate our CA issued names it byte for byte (ca/certificate-builder.ts
    // copies the issuer's subject): a signer that names none of our CAs (every
    // device's self-signed first request) is not ours, without parsing both
    // names again to compare them attribute by attribute (issue 13).
    if (!this.mayBeOurs(signer)) return false;
    let ours = false;
    for (const ca of [this.caCertificate, ...this.retiredCaCertificates]) ours ||= await verifyIssuedBy(signer, ca);
    if (!ours) return false;
    try {
      return sameRdnSet(csr.subject, certificateInfo(signer).subject);
    } catch {
      return false;
    }
  }

  /** The subject Names of our CAs (current and retired), as certificates they issued name them. */
  private caSubjects: readonly Buffer[] | null = null;

  /** Whether `certificate` names one of our CAs as its issuer, byte for byte (false: certainly not ours). */
  private mayBeOurs(certificate: Uint8Array): boolean {
    try {
      this.caSubjects ??= [this.caCertificate, ...this.retiredCaCertificates].map((c) => Buffer.from(readCmsCertificate(c).subject));
      const issuer = Buffer.from(readCmsCertificate(certificate).issuer);
      return this.caSubjects.some((s) => s.equals(issuer));
    } catch {
      return true; // unreadable here: let verifyIssuedBy decide, as before
    }
  }

  private async answer(reply: ReplyContext, outcome: EnrollmentOutcome, ra: KeyedCertificate): Promise<PkiOperationResult> {
    if (outcome.status === 'rejected') return this.fail(reply, outcome.refusal, ra);
    if (outcome.status === 'pending') {
      this.events.step(reply.transactionId, 'CertRep PENDING');
      const body = await writeCertRep({ reply, status: 'PENDING', signer: ra, chain: [...this.chain], emptyContent: EMPTY_CONTENT });
      return { body, transactionId: reply.transactionId, status: 'PENDING' };
    }
    const body = await writeCertRep({
      reply,
      status: 'SUCCESS',
      certificates: [outcome.certificate],
      signer: ra,
      chain: [...this.chain],
    });
    this.events.step(reply.transactionId, 'CertRep SUCCESS', { cipher: reply.cipher, digest: reply.digest });
    return { body, transactionId: reply.transactionId, status: 'SUCCESS' };
  }

  private async fail(reply: ReplyContext, refusal: Refusal, ra?: KeyedCertificate): Promise<PkiOperationResult> {
    ra ??= (await this.ras.keys()).ra;
    const body = await writeCertRep({
      reply,
      status: 'FAILURE',
      failInfo: failInfoFor(refusal.code),
      failInfoText: `${refusal.code}: ${REASONS[refusal.code].text}`,
      signer: ra,
      chain: [...this.chain],
      emptyContent: EMPTY_CONTENT,
    });
    this.events.step(reply.transactionId, 'CertRep FAILURE', { reason: refusal.code, failInfo: failInfoFor(refusal.code) });
    return { body, transactionId: reply.transactionId, status: 'FAILURE', reason: refusal.code };
  }
}

/** An IssuerAndSerialNumber serial (INTEGER content octets) as we store serials: lower-case hex, no sign byte. */
function serialHex(octets: Uint8Array): string {
  return Buffer.from(octets).toString('hex').replace(/^(00)+(?=.)/, '');
}

// The signer was parsed and its key built by the codec (cached by DER hash):
// reading both from there saves two X509Certificate parses per request.
function publicKeyType(der: Uint8Array): string | undefined {
  try {
    return publicKeyOf(readCmsCertificate(der)).asymmetricKeyType;
  } catch {
    return undefined;
  }
}

function subjectOf(der: Uint8Array): string {
  try {
    return formatDn(parseDnDer(readCmsCertificate(der).subject));
  } catch {
    return '(unparseable)';
  }
}
