import type { KeyObject } from 'node:crypto';
import type { Approval, PolicyDecision, PolicyModule, PolicyRequest, ScepRequestType } from '../policy-module.js';
import type { Refusal } from '../reasons.js';
import type { Storage } from '../storage/storage.js';
import { checkChallengeNotExpired } from './challenge-not-expired.js';
import { checkChallengePresent } from './challenge-present.js';
import { checkChallengeSignature } from './challenge-signature.js';
import { checkChallengeUnused } from './challenge-unused.js';
import { checkChallengeWellFormed } from './challenge-well-formed.js';
import type { Check, CrpContext } from './context.js';
import { checkCsrSignature } from './csr-signature.js';
import { checkDeviceNotBlocked } from './device-not-blocked.js';
import { checkExtendedKeyUsage } from './extended-key-usage.js';
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
// audit log see. Each check is one file in this folder.
//
// PKCSReq      the device proves entitlement with a challenge we minted.
// RenewalReq   the device proves it with a certificate we issued (no challenge).
//
// Identity certificates (challenge kind `identity`, or renewing one) have no
// profile: profileExists and profileAssigned pass without looking, and the
// request resolves to the fixed identity shape (profile/resolve.ts). Identity
// certificates issued directly from an enrollment protocol's CSR (MS-WSTEP,
// core/identity-issuance.ts) run deviceNotBlocked too.
//
// A RenewalReq's certificate records the signer's serial (Approval.renewalOf):
// revoking the signer later revokes the renewal with it.

export const CHECKS: Readonly<Record<ScepRequestType, readonly Check[]>> = {
  PKCSReq: [
    // the challenge                     refuses with
    checkChallengePresent, //            CHALLENGE_MISSING
    checkChallengeWellFormed, //         CHALLENGE_MALFORMED
    checkChallengeSignature, //          CHALLENGE_BAD_SIGNATURE
    checkChallengeNotExpired, //         CHALLENGE_EXPIRED
    checkChallengeUnused, //             CHALLENGE_ALREADY_USED
    // what it was minted for
    checkProfileExists, //               PROFILE_UNKNOWN
    checkTargetExists, //                TARGET_UNKNOWN, TARGET_PRIMARY_USER_CHANGED
    checkDeviceNotBlocked, //            DEVICE_BLOCKED
    checkProfileAssigned, //             PROFILE_NOT_ASSIGNED
    checkRequestUnchanged, //            REQUEST_CHANGED
    // the CSR against the resolved request
    checkCsrSignature, //                CSR_SIGNATURE_INVALID
    checkSubject, //                     SUBJECT_MISSING, SUBJECT_MISMATCH
    checkSubjectAltNames, //             SAN_MISMATCH, SAN_MISSING
    checkKeyUsage, //                    KEY_USAGE_EXCEEDS_PROFILE
    checkExtendedKeyUsage, //            EKU_EXCEEDS_PROFILE
    checkKeyAlgorithmAndSize, //         KEY_TOO_SHORT, KEY_ALGORITHM_UNSUPPORTED
  ],
  RenewalReq: [
    // the certificate being renewed
    checkRenewalSignerIssuedByUs, //     RENEWAL_SIGNER_UNKNOWN
    checkRenewalSignerNotExpired, //     RENEWAL_SIGNER_EXPIRED
    checkRenewalSignerNotRevoked, //     RENEWAL_SIGNER_REVOKED
    // what it was issued for, today
    checkProfileExists, //               PROFILE_UNKNOWN
    checkTargetExists, //                TARGET_UNKNOWN, TARGET_PRIMARY_USER_CHANGED
    checkDeviceNotBlocked, //            DEVICE_BLOCKED
    checkProfileAssigned, //             PROFILE_NOT_ASSIGNED
    checkRenewalRequestResolves, //      ATTRIBUTE_MISSING
    // the CSR
    checkCsrSignature, //                CSR_SIGNATURE_INVALID
    checkRenewalSubjectUnchanged, //     SUBJECT_MISSING, RENEWAL_SUBJECT_MISMATCH
    checkSubjectAltNames, //             SAN_MISMATCH, SAN_MISSING
    checkKeyUsage, //                    KEY_USAGE_EXCEEDS_PROFILE
    checkExtendedKeyUsage, //            EKU_EXCEEDS_PROFILE
    checkKeyAlgorithmAndSize, //         KEY_TOO_SHORT, KEY_ALGORITHM_UNSUPPORTED
  ],
};

export interface CrpOptions {
  storage: Storage;
  challengePublicKey: KeyObject;
  /** Defaults to the system clock. */
  clock?: () => Date;
  /** Defaults to CHECKS; tests and embedders may supply another table. */
  checks?: Readonly<Record<ScepRequestType, readonly Check[]>>;
}

export class CertificateRegistrationPoint implements PolicyModule {
  readonly name = 'crp';
  private readonly checks: Readonly<Record<ScepRequestType, readonly Check[]>>;

  constructor(private readonly options: CrpOptions) {
    this.checks = options.checks ?? CHECKS;
  }

  async evaluate(request: PolicyRequest): Promise<PolicyDecision> {
    const row = Object.hasOwn(this.checks, request.messageType) ? this.checks[request.messageType] : undefined;
    if (!row) return refuse({ code: 'UNSUPPORTED_MESSAGE_TYPE', received: request.messageType });
    const ctx: CrpContext = {
      request,
      deps: {
        storage: this.options.storage,
        challengePublicKey: this.options.challengePublicKey,
        clock: this.options.clock ?? (() => new Date()),
      },
    };
    for (const check of row) {
      let refusal: Refusal | null;
      try {
        refusal = await check.run(ctx);
      } catch (e) {
        return refuse({ code: 'INTERNAL_ERROR', detail: `check ${check.name} failed: ${e instanceof Error ? e.message : String(e)}` });
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
    return { allow: true, approval };
  }
}

function refuse(refusal: Refusal): PolicyDecision {
  return { allow: false, refusal };
}

export type { Check, CrpContext, CrpDeps, Basis } from './context.js';
