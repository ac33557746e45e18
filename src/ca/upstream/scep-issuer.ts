import { randomBytes } from 'node:crypto';
import type { IssueContext, IssuedCertificateData } from '../../core/issuer.js';
import { IssuancePending, IssuanceRefused } from '../../core/issuer.js';
import type { ResolvedRequest } from '../../core/model.js';
import { readCertificate } from '../../x509/cert-raw.js';
import { verifyIssuedBy } from '../../x509/certificate-info.js';
import { parseCsr } from '../../x509/csr-parser.js';
import type { HashName, KeyedCertificate } from '../../x509/keys.js';
import { readCertRep, readCertsOnly, verifyCertRep, writePkiRequest, type CertRepResult, type ContentCipher, type PkiRequestPayload } from '../../scep/codec/index.js';
import type { UpstreamConnector } from '../../core/issuer.js';
import { ContactTracker } from './contact.js';
import { acceptIssued, csrSubjectName, isCaCertificate, normalizeFingerprint, sha256Fingerprint } from './upstream-certificate.js';

// A CertificateIssuer that forwards the approved request to an upstream SCEP
// server, as NDES forwards to AD CS. The gateway keeps the whole front
// (payloads, challenges, the CRP); the upstream gets the device's own CSR
// unchanged (the gateway does not have the device's key, so it cannot make
// another), wrapped in a PKCSReq that the gateway signs with its SCEP RA
// certificate: the gateway is the requester there, and the upstream encrypts
// its answer to that certificate. PENDING becomes IssuancePending (the poller
// sends CertPoll later), FAILURE becomes IssuanceRefused with the failInfo.

export interface ScepUpstreamOptions {
  name: string;
  /** The upstream's SCEP URL (the one clients would use, e.g. http://ca.example/scep). */
  url: string;
  /** SHA-256 of the upstream CA certificate (hex, colons allowed): GetCACert must return it. */
  caFingerprint?: string;
  pollSeconds: number;
  timeoutSeconds: number;
  /** The gateway's current SCEP RA certificate and key: the signer of every request sent upstream. */
  signer: () => Promise<KeyedCertificate>;
}

interface UpstreamCa {
  /** Certificates GetCACert returned. */
  all: Uint8Array[];
  /** The CA that issues (pinned when caFingerprint is set). */
  ca: Uint8Array;
  /** Who requests are encrypted to: the RA when the upstream has one, else the CA. */
  recipient: Uint8Array;
  cipher: ContentCipher;
  digest: HashName;
  post: boolean;
}

/** How long GetCACert/GetCACaps answers are reused before they are fetched again. */
const CA_INFO_TTL_MS = 10 * 60_000;

export class ScepUpstreamIssuer implements UpstreamConnector {
  readonly kind = 'scep' as const;
  readonly name: string;
  readonly pollSeconds: number;
  #cached: { at: number; ca: UpstreamCa } | null = null;

  constructor(private readonly options: ScepUpstreamOptions) {
    this.name = options.name;
    this.pollSeconds = options.pollSeconds;
  }

  readonly #contact = new ContactTracker();

  lastContact() {
    return this.#contact.last();
  }

  caCertificates(): readonly Uint8Array[] {
    return this.#cached?.ca.all ?? [];
  }

  get caFingerprint(): string | undefined {
    return this.options.caFingerprint;
  }

  /** GetCACert as it comes (RA, CA, intermediates, root, in the upstream's order): the chain keeper orders it. */
  async fetchCaCertificates(): Promise<Uint8Array[]> {
    return this.#contact.track(async () => {
      const all = readCaCertResponse(new Uint8Array(await (await this.http('GetCACert')).arrayBuffer()));
      if (all.length === 0) throw new IssuanceRefused(this.name, 'unavailable', 'GetCACert returned no certificate');
      return all;
    });
  }

  async issue(_resolved: ResolvedRequest, spki: Uint8Array, context?: IssueContext): Promise<IssuedCertificateData> {
    if (!context) throw new IssuanceRefused(this.name, 'unavailable', 'only SCEP enrollments with a CSR can be forwarded to an upstream CA');
    return this.#contact.track(async () => {
      const ca = await this.upstreamCa();
      const transactionId = randomBytes(16).toString('hex');
      const answer = await this.exchange(ca, { messageType: 'PKCSReq', csr: context.csrDer }, transactionId);
      return this.outcome(answer, ca, spki, { upstreamTransactionId: transactionId });
    });
  }

  async poll(state: Record<string, unknown>, csrDer: Uint8Array): Promise<IssuedCertificateData> {
    const transactionId = state.upstreamTransactionId;
    if (typeof transactionId !== 'string') throw new IssuanceRefused(this.name, 'refused', 'the pending request has no upstream transaction id');
    return this.#contact.track(async () => {
      const ca = await this.upstreamCa();
      const issuerAndSubject = { issuer: readCertificate(ca.ca).subjectName, subject: csrSubjectName(csrDer) };
      const answer = await this.exchange(ca, { messageType: 'CertPoll', issuerAndSubject }, transactionId);
      return this.outcome(answer, ca, (await parseCsr(csrDer)).publicKey.spki, state);
    });
  }

  private async outcome(answer: CertRepResult, ca: UpstreamCa, spki: Uint8Array, state: Record<string, unknown>): Promise<IssuedCertificateData> {
    if (answer.status === 'PENDING') throw new IssuancePending(this.name, state);
    if (answer.status === 'FAILURE') {
      throw new IssuanceRefused(this.name, 'refused', `the upstream SCEP server answered FAILURE${answer.failInfoText ? `: ${answer.failInfoText}` : ''}`, answer.failInfo);
    }
    return acceptIssued(this.name, answer.certificates, spki, [ca.ca]);
  }

  /** One PKIOperation: request out, verified and decrypted CertRep back. */
  private async exchange(ca: UpstreamCa, payload: PkiRequestPayload, transactionId: string): Promise<CertRepResult> {
    const signer = await this.options.signer();
    const senderNonce = new Uint8Array(randomBytes(16));
    const body = await writePkiRequest({ ...payload, transactionId, signer, recipient: ca.recipient, cipher: ca.cipher, digest: ca.digest, senderNonce });
    const res = ca.post
      ? await this.http('PKIOperation', { method: 'POST', body, headers: { 'content-type': 'application/x-pki-message' } })
      : await this.http(`PKIOperation&message=${encodeURIComponent(Buffer.from(body).toString('base64'))}`, { method: 'GET' });
    const der = new Uint8Array(await res.arrayBuffer());
    // The CertRep is signed by the upstream's RA or CA: whichever of GetCACert's certificates verifies it.
    const repSigner = ca.all.find((c) => {
      try {
        verifyCertRep(der, c);
        return true;
      } catch {
        return false;
      }
    });
    if (!repSigner) {
      this.#cached = null; // perhaps the upstream renewed its RA: fetch GetCACert again next time
      throw new IssuanceRefused(this.name, 'unavailable', 'the CertRep is not signed by a certificate of the upstream GetCACert answer');
    }
    let answer: CertRepResult;
    try {
      answer = await readCertRep(der, signer, repSigner);
    } catch (e) {
      throw new IssuanceRefused(this.name, 'unavailable', `unreadable CertRep: ${(e as Error).message}`);
    }
    // Replay protection (RFC 8894 3.2.1.5): it must answer this request.
    if (answer.transactionId !== transactionId || !Buffer.from(answer.recipientNonce).equals(Buffer.from(senderNonce))) {
      throw new IssuanceRefused(this.name, 'unavailable', 'the CertRep answers another request (transactionID or recipientNonce differ)');
    }
    return answer;
  }

  private async upstreamCa(): Promise<UpstreamCa> {
    if (this.#cached && Date.now() - this.#cached.at < CA_INFO_TTL_MS) return this.#cached.ca;
    const all = readCaCertResponse(new Uint8Array(await (await this.http('GetCACert')).arrayBuffer()));
    if (all.length === 0) throw new IssuanceRefused(this.name, 'unavailable', 'GetCACert returned no certificate');
    const ca = await this.pickCa(all);
    const others = all.filter((c) => c !== ca);
    // The RA must be one the CA vouches for, or a man in the middle could substitute its own.
    const ras: Uint8Array[] = [];
    for (const c of others) if (!isCaCertificate(c) && (await verifyIssuedBy(c, ca))) ras.push(c);
    const caps = await this.caps();
    const info: UpstreamCa = {
      all: [ca, ...ras],
      ca,
      recipient: ras[0] ?? ca,
      cipher: caps.has('AES') ? 'aes-256-cbc' : 'des-ede3-cbc',
      digest: caps.has('SHA-256') || caps.has('SCEPStandard') ? 'sha256' : 'sha1',
      post: caps.has('POSTPKIOperation') || caps.has('SCEPStandard'),
    };
    this.#cached = { at: Date.now(), ca: info };
    return info;
  }

  private async pickCa(all: Uint8Array[]): Promise<Uint8Array> {
    if (this.options.caFingerprint) {
      const pin = normalizeFingerprint(this.options.caFingerprint);
      const pinned = all.find((c) => sha256Fingerprint(c) === pin);
      if (!pinned) throw new IssuanceRefused(this.name, 'unavailable', `GetCACert did not return the CA certificate pinned by caFingerprint ${pin}`);
      return pinned;
    }
    if (all.length === 1) return all[0]!;
    return all.find((c) => isCaCertificate(c)) ?? all[0]!;
  }

  private async caps(): Promise<Set<string>> {
    try {
      const text = await (await this.http('GetCACaps')).text();
      return new Set(text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean));
    } catch {
      return new Set(); // RFC 8894 3.5.2: no answer means the oldest defaults (GET, DES3, SHA-1)
    }
  }

  private async http(operation: string, init: RequestInit = {}): Promise<Response> {
    const sep = this.options.url.includes('?') ? '&' : '?';
    let res: Response;
    try {
      res = await fetch(`${this.options.url}${sep}operation=${operation}`, { ...init, signal: AbortSignal.timeout(this.options.timeoutSeconds * 1000) });
    } catch (e) {
      throw new IssuanceRefused(this.name, 'unavailable', `upstream SCEP server unreachable: ${(e as Error).message}`);
    }
    if (!res.ok) throw new IssuanceRefused(this.name, 'unavailable', `upstream SCEP server answered HTTP ${res.status} to ${operation.split('&')[0]}`, `http-${res.status}`);
    return res;
  }
}

/** GetCACert: one DER certificate (application/x-x509-ca-cert) or a certs-only PKCS#7 (…-ca-ra-cert). */
function readCaCertResponse(body: Uint8Array): Uint8Array[] {
  try {
    readCertificate(body);
    return [body];
  } catch {
    try {
      return readCertsOnly(body);
    } catch {
      return [];
    }
  }
}
