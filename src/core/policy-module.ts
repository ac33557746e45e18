import type { CsrInfo } from './csr-info.js';
import type { CertificateKind, ResolvedRequest } from './model.js';
import type { Refusal } from './reasons.js';

// The policy module is the door the SCEP server knocks on before anything is
// issued (step-ca's provisioners are the model). The built-in one is the CRP
// (src/core/crp); an external validator (a webhook) implements the same
// interface and can be chained after it.

export type ScepRequestType = 'PKCSReq' | 'RenewalReq';

export interface PolicyRequest {
  transactionId: string;
  messageType: ScepRequestType;
  csr: CsrInfo;
  /** DER of the certificate that signed the pkiMessage (self-signed for PKCSReq; ours for RenewalReq). */
  signerCertificate: Uint8Array;
  receivedAt: Date;
}

/** What the policy approved: everything the CA needs, and what must be spent atomically with it. */
export interface Approval {
  kind: CertificateKind;
  resolved: ResolvedRequest;
  /** The challenge to mark used in the issuance transaction (null for RenewalReq). */
  challenge: { id: string; expiresAt: string } | null;
  requireApproval: boolean;
  /**
   * A renewal (the signer certificate is the basis): that certificate's
   * serial, recorded on the new certificate so revoking the old one revokes it.
   */
  renewalOf: string | null;
}

export type PolicyDecision = { allow: true; approval: Approval } | { allow: false; refusal: Refusal };

export interface PolicyModule {
  readonly name: string;
  evaluate(req: PolicyRequest): Promise<PolicyDecision>;
  /**
   * The approval was issued and recorded; the issuing transaction left the
   * certificate's device at this plan generation (the CRP's read cache carries
   * its entry forward: core/crp/read-cache.ts). Optional.
   */
  issued?(approval: Approval, devicePlanGeneration: number | null | undefined): void;
}
