import type { ReadyDelivery } from '../../core/adapter.js';
import type { Device, KeySize, KeyUsageName, SanType } from '../../core/model.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import { keyDigests, keyPurposes, requiresHardwareBacked, RSA_ENCRYPTION_PADDINGS, RSA_SIGNATURE_PADDINGS, x500Subject, type KeyPurpose } from './vocabulary.js';

// The policy document the agent fetches (schema version 1), built from core's
// ready deliveries. Pure: no clock, no I/O, no randomness beyond what the
// inputs carry, so golden files compare it byte for byte. The JSON Schema in
// schema.ts describes exactly this shape; docs/android.md explains each field.

export const POLICY_SCHEMA_VERSION_1 = 1;

/**
 * What the agent should do with a certificate policy:
 *  - enroll: no certificate for this policy version on the device yet; a challenge is included
 *  - renew: the installed certificate is inside its renewal threshold; a challenge is included
 *  - keep: the installed certificate is current; no challenge
 */
export type PolicyAction = 'enroll' | 'renew' | 'keep';

export interface ScepSettingsV1 {
  url: string;
  /** The one-time challengePassword; null when action is keep. */
  challenge: string | null;
  challengeExpiresAt: string | null;
  /** X500Principal-compatible RFC 4514 string, RDNs in the profile's order. */
  subject: string;
  subjectAltNames: { type: SanType; value: string }[];
  keyAlgorithm: 'RSA';
  keySize: KeySize;
  /** X.509 keyUsage bits the CSR may ask for (RFC 5280 names). */
  keyUsage: KeyUsageName[];
  /** Dotted OIDs the CSR may ask for. */
  extendedKeyUsages: string[];
  hashAlgorithm: string;
  /** SHA-256 of the CA certificate (DER), lower-case hex: checks the GetCACert answer. */
  caFingerprint: string;
  retries: number;
  retryDelaySeconds: number;
  renewalThresholdPercent: number;
}

export interface KeyStoreSettingsV1 {
  /** The KeyChain alias the key pair and certificate are installed under. */
  alias: string;
  /** KeyInfo.getSecurityLevel() must be TRUSTED_ENVIRONMENT or STRONGBOX. */
  requireHardwareBacked: boolean;
  /** KeyGenParameterSpec.Builder.setIsStrongBoxBacked(true); fail with STRONGBOX_UNAVAILABLE if absent. */
  requireStrongBox: boolean;
  /** The private key may leave the device (generated in software, installed with installKeyPair). */
  exportable: boolean;
  /** KeyProperties.PURPOSE_* names. */
  purposes: KeyPurpose[];
  /** KeyProperties.DIGEST_* values. */
  digests: string[];
  /** KeyProperties.SIGNATURE_PADDING_RSA_* values. */
  signaturePaddings: string[];
  /** KeyProperties.ENCRYPTION_PADDING_RSA_* values (empty unless PURPOSE_DECRYPT). */
  encryptionPaddings: string[];
}

export interface CertificatePolicyV1 {
  id: string;
  version: number;
  type: 'scepCertificate';
  name: string;
  action: PolicyAction;
  scep: ScepSettingsV1;
  keyStore: KeyStoreSettingsV1;
  /** DER, base64: the roots to install as trusted CA certificates. */
  trustedRoots: string[];
}

export interface PolicyDocumentV1 {
  schemaVersion: 1;
  deviceId: string;
  /** When this document's content last changed (not when it was fetched). */
  generatedAt: string;
  policies: CertificatePolicyV1[];
  /** Optional (added within v1): renew the device identity now (identity-renewal.ts). */
  identityRenewal?: IdentityRenewalV1;
}

/** Where and how the agent renews its device identity certificate. */
export interface IdentityRenewalV1 {
  url: string;
  /** The subject the CSR must carry (the current identity's, RFC 4514). */
  subject: string;
  keyAlgorithm: 'RSA';
  keySize: number;
  /** When the current identity expires. */
  notAfter: string;
}

/** The KeyChain alias: stable across versions and renewals of a profile, so apps that chose it keep it. */
export function keyChainAlias(profileId: string): string {
  return `mdmgw-${profileId}`;
}

/** Retry pacing: an approval-gated profile answers PENDING for a while, so poll longer and slower. */
export function retryPolicy(requireApproval: boolean): { retries: number; retryDelaySeconds: number } {
  return requireApproval ? { retries: 48, retryDelaySeconds: 300 } : { retries: 3, retryDelaySeconds: 30 };
}

/** Every CERTIFICATE block of a PEM text, as DER. */
export function pemCertificates(pem: string): Buffer[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => Buffer.from(b.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''), 'base64'));
}

/** What the policy route decided for one delivery: the action and the challenge to hand out (if any). */
export interface PolicyPlan {
  action: PolicyAction;
  /** Overrides the delivery's freshly minted challenge with a stored one (same request). */
  challenge?: { value: string; expiresAt: Date; scepUrl: string };
  /** Overrides the delivery's SCEP URL (picked at random among the profile's) when no challenge override is given. */
  scepUrl?: string;
}

/** A root PEM as a policy carries it: the first root's SHA-256 (hex, '' without one) and every root as base64 DER. */
interface RootsV1 {
  caFingerprint: string;
  trustedRoots: readonly string[];
}

// Every policy of every device carries one of a few root PEMs (one per CA):
// decoded, hashed and re-encoded once per PEM, not once per policy (issue 13).
// Bounded: a new entry past the bound evicts the oldest.
const ROOTS_MEMO_MAX = 32;
const rootsMemo = new Map<string, RootsV1>();

function rootsOf(pem: string): RootsV1 {
  let r = rootsMemo.get(pem);
  if (!r) {
    const roots = pemCertificates(pem);
    r = { caFingerprint: roots[0] ? sha256Hex(roots[0]) : '', trustedRoots: roots.map((b) => b.toString('base64')) };
    if (rootsMemo.size >= ROOTS_MEMO_MAX) rootsMemo.delete(rootsMemo.keys().next().value!);
    rootsMemo.set(pem, r);
  }
  return r;
}

export function renderCertificatePolicy(d: ReadyDelivery, plan: PolicyPlan): CertificatePolicyV1 {
  const { profile, resolved } = d;
  const roots = rootsOf(d.trustedRootPem);
  const hardware = requiresHardwareBacked(profile.keyProtection);
  const purposes = keyPurposes(resolved.keyUsage, 'RSA');
  const withChallenge = plan.action !== 'keep';
  const challenge = plan.challenge ?? { value: d.challenge, expiresAt: d.challengeExpiresAt, scepUrl: plan.scepUrl ?? d.scepUrl };
  return {
    id: profile.id,
    version: profile.version,
    type: 'scepCertificate',
    name: profile.name,
    action: plan.action,
    scep: {
      url: challenge.scepUrl,
      challenge: withChallenge ? challenge.value : null,
      challengeExpiresAt: withChallenge ? challenge.expiresAt.toISOString() : null,
      subject: x500Subject(resolved.subject),
      subjectAltNames: resolved.subjectAlternativeNames.map((s) => ({ type: s.type, value: s.value })),
      keyAlgorithm: 'RSA',
      keySize: resolved.keySize,
      keyUsage: [...resolved.keyUsage],
      extendedKeyUsages: [...resolved.extendedKeyUsages],
      hashAlgorithm: resolved.hashAlgorithm,
      caFingerprint: roots.caFingerprint,
      ...retryPolicy(profile.requireApproval),
      renewalThresholdPercent: profile.renewalThresholdPercent,
    },
    keyStore: {
      alias: keyChainAlias(profile.id),
      requireHardwareBacked: hardware,
      // Core profiles have no StrongBox notion yet (see docs/android.md).
      requireStrongBox: false,
      // A hardware-backed key cannot leave the Keystore, whatever the profile says.
      exportable: profile.keyExportable && !hardware,
      purposes,
      digests: keyDigests(resolved.hashAlgorithm),
      signaturePaddings: [...RSA_SIGNATURE_PADDINGS],
      encryptionPaddings: purposes.includes('PURPOSE_DECRYPT') ? [...RSA_ENCRYPTION_PADDINGS] : [],
    },
    trustedRoots: [...roots.trustedRoots],
  };
}

/** The document without generatedAt: what decides whether the content changed. */
export type PolicyContentV1 = Omit<PolicyDocumentV1, 'generatedAt'>;

export function policyContentV1(device: Device, policies: CertificatePolicyV1[], identityRenewal?: IdentityRenewalV1): PolicyContentV1 {
  return {
    schemaVersion: 1,
    deviceId: device.id,
    policies: [...policies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    ...(identityRenewal && { identityRenewal }),
  };
}

export function policyDocumentV1(content: PolicyContentV1, generatedAt: string): PolicyDocumentV1 {
  return {
    schemaVersion: content.schemaVersion,
    deviceId: content.deviceId,
    generatedAt,
    policies: content.policies,
    ...(content.identityRenewal && { identityRenewal: content.identityRenewal }),
  };
}

/**
 * canonicalJson(content) and canonicalJson(policyDocumentV1(content, generatedAt)),
 * from one canonical text per policy: the content hash and the ETag of a
 * check-in used to canonicalise the whole document twice (issue 13). The
 * members in sorted order: deviceId, generatedAt, identityRenewal, policies,
 * schemaVersion (test/adapters/android/pure-modules.test.ts compares both
 * texts with canonicalJson's).
 */
export function canonicalTextsV1(content: PolicyContentV1): { content: string; document(generatedAt: string): string } {
  const head = `{"deviceId":${JSON.stringify(content.deviceId)}`;
  const renewal = content.identityRenewal ? `,"identityRenewal":${canonicalJson(content.identityRenewal)}` : '';
  const tail = `${renewal},"policies":[${content.policies.map(canonicalJson).join(',')}],"schemaVersion":${content.schemaVersion}}`;
  return { content: head + tail, document: (generatedAt) => `${head},"generatedAt":${JSON.stringify(generatedAt)}${tail}` };
}
