import type { KeyObject, X509Certificate } from 'node:crypto';
import type { ChallengeClaims, DecodedChallenge } from '../challenge/token.js';
import type { CertificateKind, Device, IssuedCertificate, Profile, ResolvedRequest, Target, User } from '../model.js';
import type { CsrInfo } from '../csr-info.js';
import type { PolicyRequest, ScepRequestType } from '../policy-module.js';
import type { ReasonCode, Refusal } from '../reasons.js';
import type { Storage } from '../storage/storage.js';
import type { CrpReadCache, ReadStamp } from './read-cache.js';

// What every CRP check sees. Checks run in the order of the table in
// index.ts; each may record what it established on the context for the
// checks after it (the challenge's claims, the profile, the target...). A
// check that needs a fact an earlier check should have set calls need(),
// which throws: a mis-ordered table is a bug, answered INTERNAL_ERROR.

/**
 * Direct issuance of a device identity certificate (core/identity-issuance.ts):
 * an enrollment protocol that carries its own CSR (MS-WSTEP) has already
 * authenticated the device with a one-time enrollment token, so there is no
 * challenge and no signer certificate. Never a SCEP message: the SCEP path
 * (PolicyModule.evaluate) refuses this type.
 */
export interface IdentityRequest {
  transactionId: string;
  messageType: 'IdentityReq';
  csr: CsrInfo;
  /**
   * The device the certificate is for, read again from storage by the row
   * (the caller's copy may be stale). null only in a dry run made before the
   * enrollment created its device (the adapters' pre-token check): a device
   * about to be made exists and is not blocked, so only the CSR can refuse.
   */
  deviceId: string | null;
  receivedAt: Date;
}

/** The rows of the table: the SCEP message types and direct identity issuance. */
export type CrpMessageType = ScepRequestType | IdentityRequest['messageType'];
export type CrpRequest = PolicyRequest | IdentityRequest;

export interface CrpDeps {
  storage: Storage;
  /** Verifies challenges; the private half lives with the minter. */
  challengePublicKey: KeyObject;
  clock: () => Date;
  /** The reads kept across requests under the plan generations (read-cache.ts); none: every read goes to storage. */
  readCache?: CrpReadCache;
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
  readonly request: CrpRequest;
  readonly deps: CrpDeps;
  /** Decide only: the caller issues and records nothing (IdentityReq's pre-token check). */
  readonly dryRun: boolean;
  /** checkChallengeWellFormed: structurally valid, NOT yet trusted. */
  decodedChallenge?: DecodedChallenge;
  /** checkChallengeUnused: the plan generations read with the challenge's use (the read cache's key). */
  reads?: ReadStamp;
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
  /** What passing it establishes, one line: the check column of docs/crp.md (npm run docs:crp). */
  readonly summary: string;
  /**
   * Every reason code run() may refuse with, most specific first. The runner
   * holds the check to it (an undeclared code is INTERNAL_ERROR) and
   * docs/crp.md's tables are generated from it.
   */
  readonly refuses: readonly ReasonCode[];
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

/** The SCEP request of a PKCSReq or RenewalReq row; a check that reads one is not for the IdentityReq row. */
export function scepRequest(ctx: CrpContext, check: string): PolicyRequest {
  if (ctx.request.messageType === 'IdentityReq') throw new CheckOrderError(check, 'a SCEP request (this is an IdentityReq)');
  return ctx.request;
}

/** The request of the IdentityReq row. */
export function identityRequestOf(ctx: CrpContext, check: string): IdentityRequest {
  if (ctx.request.messageType !== 'IdentityReq') throw new CheckOrderError(check, 'an identity request');
  return ctx.request;
}
