import { request } from 'node:https';
import type { IssueContext, IssuedCertificateData, UpstreamConnector } from '../../core/issuer.js';
import { IssuancePending, IssuanceRefused } from '../../core/issuer.js';
import type { ResolvedRequest } from '../../core/model.js';
import { parseCsr } from '../../x509/csr-parser.js';
import { readCertsOnly } from '../../scep/codec/certs-only.js';
import { ContactTracker } from './contact.js';
import { acceptIssued, normalizeFingerprint, sha256Fingerprint } from './upstream-certificate.js';

// A CertificateIssuer that forwards the approved request to an EST server
// (RFC 7030): the device's own CSR, base64, POSTed to /simpleenroll over TLS
// with the gateway's client certificate (section 3.3.2); the answer is a
// base64 certs-only PKCS#7 (section 4.2.3). 202 with Retry-After is EST's
// "pending" (section 4.2.3): the poller sends the same request again later.
// /cacerts (section 4.1) gives the CA certificates that must sign the answer.

export interface EstUpstreamOptions {
  name: string;
  /** The EST base, e.g. https://est.example.com/.well-known/est (or …/est/<label>). */
  url: string;
  /** PEM client certificate (chain) and key the gateway authenticates with. */
  clientCert: string;
  clientKey: string;
  /** PEM trust anchors for the EST server's TLS certificate; unset: the system's. */
  tlsCa?: string;
  /** SHA-256 of an upstream CA certificate that /cacerts must contain. */
  caFingerprint?: string;
  pollSeconds: number;
  timeoutSeconds: number;
}

interface EstResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export class EstUpstreamIssuer implements UpstreamConnector {
  readonly kind = 'est' as const;
  readonly name: string;
  readonly pollSeconds: number;
  readonly #base: string;
  #cas: Uint8Array[] = [];

  constructor(private readonly options: EstUpstreamOptions) {
    this.name = options.name;
    this.pollSeconds = options.pollSeconds;
    const base = options.url.replace(/\/+$/, '');
    this.#base = /\/\.well-known\/est(\/[^/]+)?$/.test(base) ? base : `${base}/.well-known/est`;
  }

  readonly #contact = new ContactTracker();

  lastContact() {
    return this.#contact.last();
  }

  caCertificates(): readonly Uint8Array[] {
    return this.#cas;
  }

  get caFingerprint(): string | undefined {
    return this.options.caFingerprint;
  }

  /** /cacerts (RFC 7030 4.1.3): every certificate in it; the chain keeper checks the pin and orders them. */
  async fetchCaCertificates(): Promise<Uint8Array[]> {
    return this.#contact.track(() => this.readCacerts());
  }

  async issue(_resolved: ResolvedRequest, spki: Uint8Array, context?: IssueContext): Promise<IssuedCertificateData> {
    if (!context) throw new IssuanceRefused(this.name, 'unavailable', 'only SCEP enrollments with a CSR can be forwarded to an upstream CA');
    return this.enroll(context.csrDer, spki);
  }

  /** EST has no poll message: the client sends the same simpleenroll again (RFC 7030 4.2.3). */
  async poll(_state: Record<string, unknown>, csrDer: Uint8Array): Promise<IssuedCertificateData> {
    return this.enroll(csrDer, (await parseCsr(csrDer)).publicKey.spki);
  }

  private enroll(csrDer: Uint8Array, spki: Uint8Array): Promise<IssuedCertificateData> {
    return this.#contact.track(() => this.simpleenroll(csrDer, spki));
  }

  private async simpleenroll(csrDer: Uint8Array, spki: Uint8Array): Promise<IssuedCertificateData> {
    const cas = await this.cacerts();
    const res = await this.call('POST', 'simpleenroll', wrap64(csrDer), { 'content-type': 'application/pkcs10', 'content-transfer-encoding': 'base64' });
    if (res.status === 202) throw new IssuancePending(this.name, { retryAfter: String(res.headers['retry-after'] ?? '') });
    if (res.status >= 400 && res.status < 500) {
      throw new IssuanceRefused(this.name, 'refused', `the EST server refused the request: HTTP ${res.status}${res.body ? `: ${res.body.trim().slice(0, 200)}` : ''}`, `http-${res.status}`);
    }
    if (res.status !== 200) throw new IssuanceRefused(this.name, 'unavailable', `the EST server answered HTTP ${res.status}`, `http-${res.status}`);
    let certs: Uint8Array[];
    try {
      certs = readCertsOnly(unbase64(res.body));
    } catch (e) {
      throw new IssuanceRefused(this.name, 'unavailable', `the EST answer is not a base64 certs-only PKCS#7: ${(e as Error).message}`);
    }
    return acceptIssued(this.name, certs, spki, cas);
  }

  /** /cacerts, fetched for every request: cheap, and a CA renewal upstream is seen at once. */
  private async cacerts(): Promise<Uint8Array[]> {
    const cas = await this.readCacerts();
    if (this.options.caFingerprint) {
      const pin = normalizeFingerprint(this.options.caFingerprint);
      if (!cas.some((c) => sha256Fingerprint(c) === pin)) throw new IssuanceRefused(this.name, 'unavailable', `cacerts does not contain the CA certificate pinned by caFingerprint ${pin}`);
    }
    this.#cas = cas;
    return cas;
  }

  private async readCacerts(): Promise<Uint8Array[]> {
    const res = await this.call('GET', 'cacerts');
    if (res.status !== 200) throw new IssuanceRefused(this.name, 'unavailable', `the EST server answered HTTP ${res.status} to cacerts`, `http-${res.status}`);
    let cas: Uint8Array[];
    try {
      cas = readCertsOnly(unbase64(res.body));
    } catch (e) {
      throw new IssuanceRefused(this.name, 'unavailable', `cacerts is not a base64 certs-only PKCS#7: ${(e as Error).message}`);
    }
    if (cas.length === 0) throw new IssuanceRefused(this.name, 'unavailable', 'cacerts holds no certificate');
    return cas;
  }

  private call(method: 'GET' | 'POST', operation: string, body?: string, headers: Record<string, string> = {}): Promise<EstResponse> {
    const o = this.options;
    return new Promise((resolve, reject) => {
      const req = request(
        `${this.#base}/${operation}`,
        { method, headers, cert: o.clientCert, key: o.clientKey, ...(o.tlsCa && { ca: o.tlsCa }), timeout: o.timeoutSeconds * 1000 },
        (res) => {
          let text = '';
          let size = 0;
          res.setEncoding('latin1');
          res.on('data', (chunk: string) => {
            size += chunk.length;
            // An EST answer is a few certificates; more is not an answer.
            if (size > 1_000_000) req.destroy(new Error('answer larger than 1 MB'));
            else text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${o.timeoutSeconds} s`)));
      req.on('error', (e) => reject(new IssuanceRefused(this.name, 'unavailable', `EST server unreachable: ${e.message}`)));
      req.end(body);
    });
  }
}

function wrap64(der: Uint8Array): string {
  return `${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\r\n')}\r\n`;
}

function unbase64(text: string): Uint8Array {
  const clean = text.replace(/[\r\n\t ]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) throw new Error('not base64');
  return new Uint8Array(Buffer.from(clean, 'base64'));
}
