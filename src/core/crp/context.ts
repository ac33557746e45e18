import type { KeyObject, X509Certificate } from 'node:crypto';
import type { ChallengeClaims, DecodedChallenge } from '../challenge/token.js';
import type { CertificateKind, Device, IssuedCertificate, Profile, ResolvedRequest, Target, User } from '../model.js';
import type { PolicyRequest } from '../policy-module.js';
import type { Refusal } from '../reasons.js';
import type { Storage } from '../storage/storage.js';

// What every CRP check sees. Checks run in the order of the table in
// index.ts; each may record what it established on the context for the
// checks after it (the challenge's claims, the profile, the target...). A
// check that needs a fact an earlier check should have set calls need(),
// which throws: a mis-ordered table is a bug, answered INTERNAL_ERROR.

export interface CrpDeps {
  storage: Storage;
  /** Verifies challenges; the private half lives with the minter. */
  challengePublicKey: KeyObject;
  clock: () => Date;
}

/**
 * What the request is for. PKCSReq: read from the verified challenge.
 * RenewalReq: read from the stored record of the certificate being renewed.
 */
export interface Basis {
  kind: CertificateKind;
  profileId: string | null;
  /** The version the challenge was minted for; null = the current one (renewal). */
  profileVersion: number | null;
  target: Target;
}

export interface CrpContext {
  readonly request: PolicyRequest;
  readonly deps: CrpDeps;
  /** checkChallengeWellFormed: structurally valid, NOT yet trusted. */
  decodedChallenge?: DecodedChallenge;
  /** checkChallengeSignature: the verified claims. */
  claims?: ChallengeClaims;
  /** checkRenewalSignerIssuedByUs: our record of the certificate that signed the RenewalReq. */
  signer?: { record: IssuedCertificate; x509: X509Certificate };
  /** checkChallengeSignature or checkRenewalSignerIssuedByUs. */
  basis?: Basis;
  /** checkProfileExists: the current version; null for identity certificates. */
  profile?: Profile | null;
  /** checkTargetExists: the directory entries template variables read from. */
  targetDevice?: Device | null;
  targetUser?: User | null;
  /** checkRequestUnchanged / checkRenewalRequestResolves: what the CSR must match and the CA issues. */
  resolved?: ResolvedRequest;
}

export interface Check {
  readonly name: string;
  run(ctx: CrpContext): Promise<Refusal | null>;
}

export class CheckOrderError extends Error {
  constructor(check: string, fact: string) {
    super(`check ${check} ran before anything established ${fact}`);
    this.name = 'CheckOrderError';
  }
}

export function need<T>(value: T | undefined, check: string, fact: string): T {
  if (value === undefined) throw new CheckOrderError(check, fact);
  return value;
}
