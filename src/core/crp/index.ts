import type { KeyObject } from 'node:crypto';
import type { Approval, PolicyDecision, PolicyModule, PolicyRequest } from '../policy-module.js';
import type { Refusal } from '../reasons.js';
import type { Storage } from '../storage/storage.js';
import type { CrpReadCache } from './read-cache.js';
import { checkChallengeNotExpired } from './challenge-not-expired.js';
import { checkChallengePresent } from './challenge-present.js';
import { checkChallengeSignature } from './challenge-signature.js';
import { checkChallengeUnused } from './challenge-unused.js';
import { checkChallengeWellFormed } from './challenge-well-formed.js';
import type { Check, CrpContext, CrpMessageType, CrpRequest, IdentityRequest } from './context.js';
import { checkCsrSignature } from './csr-signature.js';
import { checkDeviceNotBlocked } from './device-not-blocked.js';
import { checkExtendedKeyUsage } from './extended-key-usage.js';
import { checkIdentityDeviceExists } from './identity-device-exists.js';
import { checkIdentityRequestResolves } from './identity-request-resolves.js';
import { checkKeyAlgorithmAndSize } from './key-algorithm.js';
import { checkKeyUsage } from './key-usage.js';
import { checkProfileAssigned } from './profile-assigned.js';
import { checkProfileExists } from './profile-exists.js';
import { checkRenewalRequestResolves } from './renewal-request-resolves.js';
import { checkRenewalSignerIssuedByUs } from './renewal-signer-issued-by-us.js';
import { checkRenewalSignerNotExpired } from './renewal-signer-not-expired.js';
import { checkRenewalSignerNotRevoked } from './renewal-signer-not-revoked.js';
import { checkRenewalSubjectUnchanged } from './renewal-subject-unchanged.js';
import { checkRequestUnchanged } from './request-unchanged.js';
import { checkSubject } from './subject.js';
import { checkSubjectAltNames } from './subject-alt-names.js';
import { checkTargetExists } from './target-exists.js';

// The Certificate Registration Point: the built-in policy module. Nothing is
// issued unless every check in the row for the message type passes, in this
// order; the first refusal stops evaluation and is what the device and the
// audit log see. Each check is one file in this folder and declares the
// reason codes it may refuse with (Check.refuses); docs/crp.md's tables are
// generated from this table (npm run docs:crp) and a test fails when they differ.
//
// PKCSReq      the device proves entitlement with a challenge we minted.
// RenewalReq   the device proves it with a certificate we issued (no challenge).
// IdentityReq  direct issuance of a device identity certificate from a CSR an
//              enrollment protocol carried (MS-WSTEP, core/identity-issuance.ts):
//              the caller authenticated the device with a one-time enrollment
//              token. Not reachable from SCEP (evaluate refuses it); run through
//              evaluateIdentity, whose dry run is the adapters' pre-token check.
//
// Identity certificates (challenge kind `identity`, or renewing one) have no
// profile: profileExists and profileAssigned pass without looking, and the
// request resolves to the fixed identity shape (profile/resolve.ts).
//
// A RenewalReq's certificate records the signer's serial (Approval.renewalOf):
// revoking the signer later revokes the renewal with it.

export const CHECKS: Readonly<Record<CrpMessageType, readonly Check[]>> = {
  PKCSReq: [
    // the challenge
    checkChallengePresent,
    checkChallengeWellFormed,
    checkChallengeSignature,
    checkChallengeNotExpired,
    checkChallengeUnused,
    // what it was minted for
    checkProfileExists,
    checkTargetExists,
    checkDeviceNotBlocked,
    checkProfileAssigned,
    checkRequestUnchanged,
    // the CSR against the resolved request
    checkCsrSignature,
    checkSubject,
    checkSubjectAltNames,
    checkKeyUsage,
    checkExtendedKeyUsage,
    checkKeyAlgorithmAndSize,
  ],
  RenewalReq: [
    // the certificate being renewed
    checkRenewalSignerIssuedByUs,
    checkRenewalSignerNotExpired,
    checkRenewalSignerNotRevoked,
    // what it was issued for, today
    checkProfileExists,
    checkTargetExists,
    checkDeviceNotBlocked,
    checkProfileAssigned,
    checkRenewalRequestResolves,
    // the CSR
    checkCsrSignature,
    checkRenewalSubjectUnchanged,
    checkSubjectAltNames,
    checkKeyUsage,
    checkExtendedKeyUsage,
    checkKeyAlgorithmAndSize,
  ],
  IdentityReq: [
    // the device the enrollment authenticated, as it is now
    checkIdentityDeviceExists,
    checkDeviceNotBlocked,
    checkIdentityRequestResolves,
    // the CSR: only its key is certified
    checkCsrSignature,
    checkKeyAlgorithmAndSize,
  ],
};

/** The rows SCEP may ask for; IdentityReq is only for evaluateIdentity. */
const SCEP_ROWS: ReadonlySet<CrpMessageType> = new Set(['PKCSReq', 'RenewalReq']);

export interface CrpOptions {
  storage: Storage;
  challengePublicKey: KeyObject;
  /** Defaults to the system clock. */
  clock?: () => Date;
  /** Defaults to CHECKS; tests and embedders may supply another table (a missing row: UNSUPPORTED_MESSAGE_TYPE). */
  checks?: Readonly<Partial<Record<CrpMessageType, readonly Check[]>>>;
  /** Keeps the reads that do not change per request under the plan generations (read-cache.ts); none: every read goes to storage. */
  readCache?: CrpReadCache;
}

/** Direct identity issuance asks this (core/identity-issuance.ts); the CRP is one. */
export interface IdentityPolicy {
  /** dryRun: decide only; the caller will issue and record nothing on this answer. */
  evaluateIdentity(request: IdentityRequest, options?: { dryRun?: boolean }): Promise<PolicyDecision>;
}

export class CertificateRegistrationPoint implements PolicyModule, IdentityPolicy {
  readonly name = 'crp';
  private readonly checks: Readonly<Partial<Record<CrpMessageType, readonly Check[]>>>;
  /** The device whose reads an approval was decided on (read cache only): issued() carries its entry forward. */
  private readonly cachedDevice = new WeakMap<Approval, string>();

  constructor(private readonly options: CrpOptions) {
    this.checks = options.checks ?? CHECKS;
  }

  /** PKCSReq and RenewalReq from the SCEP server. */
  async evaluate(request: PolicyRequest): Promise<PolicyDecision> {
    // A SCEP message can never be an IdentityReq: that row has no challenge and no signer to prove entitlement.
    if (!SCEP_ROWS.has(request.messageType)) return refuse({ code: 'UNSUPPORTED_MESSAGE_TYPE', received: request.messageType });
    return this.run(request, false);
  }

  async evaluateIdentity(request: IdentityRequest, options: { dryRun?: boolean } = {}): Promise<PolicyDecision> {
    if (request.messageType !== 'IdentityReq') return refuse({ code: 'UNSUPPORTED_MESSAGE_TYPE', received: request.messageType });
    return this.run(request, options.dryRun ?? false);
  }

  /** The one runner of every row. */
  private async run(request: CrpRequest, dryRun: boolean): Promise<PolicyDecision> {
    const row = Object.hasOwn(this.checks, request.messageType) ? this.checks[request.messageType] : undefined;
    if (!row) return refuse({ code: 'UNSUPPORTED_MESSAGE_TYPE', received: request.messageType });
    const ctx: CrpContext = {
      request,
      dryRun,
      deps: {
        storage: this.options.storage,
        challengePublicKey: this.options.challengePublicKey,
        clock: this.options.clock ?? (() => new Date()),
        ...(this.options.readCache && { readCache: this.options.readCache }),
      },
    };
    for (const check of row) {
      let refusal: Refusal | null;
      try {
        refusal = await check.run(ctx);
      } catch (e) {
        return refuse({ code: 'INTERNAL_ERROR', detail: `check ${check.name} failed: ${e instanceof Error ? e.message : String(e)}` });
      }
      if (refusal && !check.refuses.includes(refusal.code)) {
        // The docs, and whoever greps the audit log, were told which codes this check gives.
        return refuse({ code: 'INTERNAL_ERROR', detail: `check ${check.name} refused with ${refusal.code}, which it does not declare` });
      }
      if (refusal) return refuse(refusal);
    }
    if (!ctx.resolved || !ctx.basis) {
      return refuse({ code: 'INTERNAL_ERROR', detail: `the ${request.messageType} checks established no resolved request` });
    }
    const approval: Approval = {
      kind: ctx.basis.kind,
      resolved: ctx.resolved,
      challenge: ctx.claims ? { id: ctx.claims.id, expiresAt: ctx.claims.expiresAt.toISOString() } : null,
      requireApproval: ctx.profile?.requireApproval ?? false,
      renewalOf: ctx.signer?.record.serialNumber ?? null,
    };
    if (this.options.readCache && ctx.reads?.deviceId) this.cachedDevice.set(approval, ctx.reads.deviceId);
    return { allow: true, approval };
  }

  /** The issuing transaction advanced the device's plan generation itself: the kept reads still hold (read-cache.ts noteIssued). */
  issued(approval: Approval, devicePlanGeneration: number | null | undefined): void {
    const deviceId = this.cachedDevice.get(approval);
    if (deviceId !== undefined) this.options.readCache?.noteIssued(deviceId, devicePlanGeneration);
  }
}

function refuse(refusal: Refusal): PolicyDecision {
  return { allow: false, refusal };
}

export type { Check, CrpContext, CrpDeps, CrpMessageType, CrpRequest, Basis, IdentityRequest } from './context.js';
