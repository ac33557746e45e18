import { X509Certificate, createHash } from 'node:crypto';
import type { EnrollmentAnswer } from '../adapters/android/enrollment-answer.js';
import type { CertificatePolicyV1, PolicyDocumentV1 } from '../adapters/android/render.js';
import { toPem } from '../pem.js';
import { buildCsr, generateDeviceKey, getCaCerts, scepEnroll, type DeviceKey, type SimSan } from './scep-client.js';

// Plays the Android agent app (the role Intune's Company Portal plays) over
// real HTTP: enroll with the one-time token and device facts, enroll the
// device identity over SCEP with a real key, fetch the policy with the
// identity certificate (honouring ETags), generate a real key pair and do
// SCEP for each certificate policy that carries a challenge, "install" it
// under its KeyChain alias, and report per-policy results. When the policy
// carries `identityRenewal`, it renews its own identity certificate (a new
// key, a CSR posted with the current identity) and uses the new one.

export interface DeviceFactsInput {
  name?: string;
  manufacturer?: string;
  model: string;
  osVersion: string;
  sdkInt: number;
  securityPatchLevel: string;
  hardwareBackedKeystore: boolean;
  strongBox: boolean;
  serialNumber?: string;
}

export const PIXEL_8: DeviceFactsInput = {
  manufacturer: 'Google',
  model: 'Pixel 8',
  osVersion: '14',
  sdkInt: 34,
  securityPatchLevel: '2024-05-05',
  hardwareBackedKeystore: true,
  strongBox: true,
};

export interface InstalledKey {
  policyId: string;
  policyVersion: number;
  alias: string;
  certificate: Uint8Array;
  key: DeviceKey;
  thumbprint: string;
}

export interface PolicyFetch {
  status: number;
  etag: string | null;
  contentType: string | null;
  document: PolicyDocumentV1 | null;
  body: unknown;
}

// X500Principal keywords the peculiar parser (what the simulator builds CSRs with) names differently.
const toPeculiarSubject = (s: string) => s.replace(/(^|,)EMAILADDRESS=/g, '$1E=');

export const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export class AndroidAgentSim {
  deviceId: string | null = null;
  identity: Uint8Array | null = null;
  etag: string | null = null;
  /** The KeyChain, as far as this simulated agent is concerned: alias -> installed key. */
  readonly keyChain = new Map<string, InstalledKey>();
  /** Trusted CA certificates the agent installed (sha256 hex -> DER), from the policies' trustedRoots. */
  readonly trustedRoots = new Map<string, Uint8Array>();
  /** What happened, in order: `root:<sha256>` when a root is installed, `cert:<policyId>:<issuer sha256>` when a certificate is. */
  readonly events: string[] = [];

  constructor(readonly baseUrl: string) {}

  /** POST the enrollment URL the admin handed out; returns the raw response. */
  async postEnroll(enrollmentUrl: string, facts: unknown, extra: Record<string, unknown> = {}): Promise<Response> {
    return fetch(enrollmentUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ device: facts, ...extra }) });
  }

  /** Enrolls: token + facts, then the device identity certificate over real SCEP. */
  async enroll(enrollmentUrl: string, facts: DeviceFactsInput = PIXEL_8): Promise<EnrollmentAnswer> {
    const res = await this.postEnroll(enrollmentUrl, facts, { supportedSchemaVersions: [1] });
    if (res.status !== 201) throw new Error(`enroll: HTTP ${res.status}: ${await res.text()}`);
    const answer = (await res.json()) as EnrollmentAnswer;
    const id = answer.identity;
    // Pin the CA: the GetCACert answer must hold the CA the enrollment answer named.
    // Any certificate of the answer: a subordinate CA's GetCACert carries the chain up to the root the fingerprint names.
    const { all } = await getCaCerts(id.scepUrl);
    if (!all.some((c) => sha256Hex(c) === id.caFingerprint)) throw new Error('CA_FINGERPRINT_MISMATCH on the identity SCEP server');
    const r = await scepEnroll({ scepUrl: id.scepUrl, challenge: id.challenge, subject: id.subject, keySize: id.keySize });
    if (r.status !== 'SUCCESS' || !r.certificate) throw new Error(`identity SCEP: ${r.status} ${r.failInfo ?? ''}`);
    this.deviceId = answer.deviceId;
    this.identity = r.certificate;
    return answer;
  }

  /**
   * Renews the identity when the policy asks (identityRenewal): a new key, a
   * CSR with the subject given, posted with the current identity. On 201 the
   * new certificate is the identity from now on, unless `installFails`.
   * Returns the response status, or null when the policy did not ask.
   */
  async renewIdentityIfAsked(doc: PolicyDocumentV1, o: { installFails?: boolean; subject?: string } = {}): Promise<{ status: number; body: any } | null> {
    const block = doc.identityRenewal;
    if (!block) return null;
    const key = await generateDeviceKey('RSA', block.keySize);
    const csr = await buildCsr(key, { subject: o.subject ?? block.subject });
    const res = await fetch(block.url, { method: 'POST', headers: { ...this.authHeaders(), 'content-type': 'application/json' }, body: JSON.stringify({ csr: Buffer.from(csr).toString('base64') }) });
    const body = (await res.json()) as any;
    if (res.status === 201 && !o.installFails) {
      this.identity = new Uint8Array(Buffer.from(body.certificate, 'base64'));
      this.identityKey = key;
    }
    return { status: res.status, body };
  }

  /** The identity's key, once renewed here (the enrollment's key stays inside scepEnroll). */
  identityKey: DeviceKey | null = null;

  authHeaders(): Record<string, string> {
    if (!this.identity) throw new Error('not enrolled');
    return { 'X-Client-Cert': encodeURIComponent(toPem(this.identity)) };
  }

  async fetchPolicy(opts: { conditional?: boolean; query?: string; accept?: string; authenticated?: boolean } = {}): Promise<PolicyFetch> {
    const headers: Record<string, string> = opts.authenticated === false ? {} : this.authHeaders();
    if (opts.conditional && this.etag) headers['if-none-match'] = this.etag;
    if (opts.accept) headers.accept = opts.accept;
    const res = await fetch(`${this.baseUrl}/android/v1/policy${opts.query ?? ''}`, { headers });
    const text = await res.text();
    const body = text ? JSON.parse(text) : null;
    const etag = res.headers.get('etag');
    if (res.status === 200) this.etag = etag;
    return { status: res.status, etag, contentType: res.headers.get('content-type'), document: res.status === 200 ? (body as PolicyDocumentV1) : null, body };
  }

  /** Installs a policy's trustedRoots (as the agent does before it enrolls). */
  installRoots(p: CertificatePolicyV1): void {
    for (const b64 of p.trustedRoots) {
      const der = new Uint8Array(Buffer.from(b64, 'base64'));
      const sha = sha256Hex(der);
      if (this.trustedRoots.has(sha)) continue;
      this.trustedRoots.set(sha, der);
      this.events.push(`root:${sha}`);
    }
  }

  /** The trusted root that signed `certificate`; throws when none did (a real KeyChain could not build its chain). */
  trustedIssuerOf(certificate: Uint8Array): string {
    const cert = new X509Certificate(certificate);
    for (const [sha, der] of this.trustedRoots) {
      const root = new X509Certificate(der);
      if (cert.checkIssued(root) && cert.verify(root.publicKey)) return sha;
    }
    throw new Error(`UNTRUSTED_ISSUER: ${cert.issuer} is not an installed trusted root`);
  }

  /** Real key generation and SCEP enrollment for one certificate policy. */
  async enrollPolicy(p: CertificatePolicyV1): Promise<InstalledKey> {
    if (!p.scep.challenge) throw new Error(`policy ${p.id} carries no challenge`);
    this.installRoots(p);
    const { all } = await getCaCerts(p.scep.url);
    if (!all.some((c) => sha256Hex(c) === p.scep.caFingerprint)) throw new Error('CA_FINGERPRINT_MISMATCH');
    const r = await scepEnroll({
      scepUrl: p.scep.url,
      challenge: p.scep.challenge,
      subject: toPeculiarSubject(p.scep.subject),
      sans: p.scep.subjectAltNames as SimSan[],
      extendedKeyUsages: p.scep.extendedKeyUsages,
      keyAlgorithm: p.scep.keyAlgorithm,
      keySize: p.scep.keySize,
    });
    if (r.status !== 'SUCCESS' || !r.certificate) throw new Error(`SCEP for ${p.id}: ${r.status} ${r.failInfo ?? ''} ${r.failInfoText ?? ''}`);
    const installed: InstalledKey = {
      policyId: p.id,
      policyVersion: p.version,
      alias: p.keyStore.alias,
      certificate: r.certificate,
      key: r.key,
      thumbprint: new X509Certificate(r.certificate).fingerprint.replace(/:/g, ''),
    };
    this.events.push(`cert:${p.id}:${this.trustedIssuerOf(r.certificate)}`);
    this.keyChain.set(p.keyStore.alias, installed);
    return installed;
  }

  async postStatus(body: unknown): Promise<Response> {
    return fetch(`${this.baseUrl}/android/v1/status`, {
      method: 'POST',
      headers: { ...this.authHeaders(), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  /** What the agent does with a policy no longer listed (docs/android.md): removes its key pair and reports it `removed`. */
  async removeUnlisted(doc: PolicyDocumentV1): Promise<InstalledKey[]> {
    const listed = new Set(doc.policies.map((p) => p.id));
    const gone = [...this.keyChain.values()].filter((k) => !listed.has(k.policyId));
    for (const k of gone) this.keyChain.delete(k.alias);
    if (gone.length > 0) {
      const res = await this.postStatus({ results: gone.map((k) => ({ policyId: k.policyId, policyVersion: k.policyVersion, state: 'removed', alias: k.alias })) });
      if (res.status !== 204) throw new Error(`status: HTTP ${res.status}: ${await res.text()}`);
    }
    return gone;
  }

  /** Enrolls every policy that carries a challenge and reports each one installed. */
  async applyPolicy(doc: PolicyDocumentV1): Promise<InstalledKey[]> {
    const installed: InstalledKey[] = [];
    for (const p of doc.policies) this.installRoots(p);
    for (const p of doc.policies) if (p.action !== 'keep') installed.push(await this.enrollPolicy(p));
    if (installed.length > 0) {
      const res = await this.postStatus({
        results: installed.map((k) => ({
          policyId: k.policyId,
          policyVersion: k.policyVersion,
          state: 'installed',
          thumbprint: k.thumbprint,
          alias: k.alias,
          certificate: Buffer.from(k.certificate).toString('base64'),
        })),
      });
      if (res.status !== 204) throw new Error(`status: HTTP ${res.status}: ${await res.text()}`);
    }
    return installed;
  }
}
