import { certificateInfo, verifyIssuedBy } from '../../x509/certificate-info.js';
import { formatDn } from '../../x509/names.js';
import { isCaCertificate, normalizeFingerprint, sha256Fingerprint } from './upstream-certificate.js';

// The chain an upstream CA publishes (SCEP GetCACert, EST /cacerts), put in
// the order the CA registry keeps: the issuing CA first, then what is above it
// up to the root. What devices trust for the profiles that name the upstream
// comes from here, so a pinned caFingerprint must be in it, and every link is
// signature-checked (an RA certificate or an unrelated CA in the answer is
// left out).

export class UpstreamChainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamChainError';
  }
}

export interface UpstreamChain {
  /** The issuing CA first, then intermediates nearest first, then the top (the root when `rootSelfSigned`). */
  chain: Uint8Array[];
  /** The top of the chain: what devices install as their trust anchor. */
  root: Uint8Array;
  /** False when the upstream does not publish its root: the top is an intermediate (health warns, docs/upstream-ca.md). */
  rootSelfSigned: boolean;
}

/** Paths longer than this are not a CA hierarchy anyone runs: refuse rather than loop. */
const MAX_DEPTH = 8;

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** "CN=..., O=..." of a certificate, for messages. */
export function subjectOf(der: Uint8Array): string {
  return formatDn(certificateInfo(der).subject);
}

/**
 * Orders what an upstream published. The issuing CA is the pinned one when
 * `caFingerprint` is set (its absence is an error naming the pin), else the
 * CA certificate no other CA certificate of the answer was issued by (the
 * bottom of the hierarchy). From there each issuer is looked up among the
 * answer's certificates until a self-signed one.
 */
export async function upstreamChainFrom(certificates: readonly Uint8Array[], caFingerprint?: string): Promise<UpstreamChain> {
  if (certificates.length === 0) throw new UpstreamChainError('the upstream returned no certificate');
  const cas = certificates.filter((c) => isCaCertificate(c));
  let issuing: Uint8Array | undefined;
  if (caFingerprint) {
    const pin = normalizeFingerprint(caFingerprint);
    issuing = certificates.find((c) => sha256Fingerprint(c) === pin);
    if (!issuing) {
      const got = certificates.map((c) => `${subjectOf(c)} (${sha256Fingerprint(c)})`).join('; ');
      throw new UpstreamChainError(`caFingerprint mismatch: the upstream's CA certificates do not include the pinned ${pin}; it returned ${got}`);
    }
  } else if (certificates.length === 1) {
    issuing = certificates[0];
  } else {
    issuing = await bottomOf(cas);
    if (!issuing) throw new UpstreamChainError('the upstream returned no CA certificate (basicConstraints cA=TRUE)');
  }
  const chain = [issuing!];
  for (let current = issuing!; ; ) {
    if (await verifyIssuedBy(current, current)) return { chain, root: current, rootSelfSigned: true };
    if (chain.length > MAX_DEPTH) throw new UpstreamChainError(`the chain is longer than ${MAX_DEPTH} certificates`);
    const issuer = await findIssuer(current, certificates, chain);
    // The upstream does not publish what is above (NDES returns only the issuing CA): the top is what we have.
    if (!issuer) return { chain, root: current, rootSelfSigned: false };
    chain.push(issuer);
    current = issuer;
  }
}

async function bottomOf(cas: readonly Uint8Array[]): Promise<Uint8Array | undefined> {
  for (const c of cas) {
    let issuesAnother = false;
    for (const other of cas) if (!same(other, c) && (await verifyIssuedBy(other, c))) issuesAnother = true;
    if (!issuesAnother) return c;
  }
  return cas[0];
}

async function findIssuer(cert: Uint8Array, candidates: readonly Uint8Array[], path: readonly Uint8Array[]): Promise<Uint8Array | undefined> {
  for (const c of candidates) {
    if (path.some((p) => same(p, c))) continue;
    if (await verifyIssuedBy(cert, c)) return c;
  }
  return undefined;
}
