import type { PlanGenerations } from './plan-generation-store.js';
import type { AuditEvent, Enrollment, IssuedCertificate, RevocationReason, PendingRemoval } from '../model.js';
import type { ChallengeUse, NewEnrollment, NewCertificate, ConsumeResult, RevokeResult, RevokedEntry, RevokedSetState, CertificateStatus, CertificateFilter, CertificateWithDevice } from './storage.js';

export interface ChallengeUseAndGenerations {
  used: boolean;
  planGenerations: PlanGenerations;
}

/** What an issuing transaction saw, for the caller (recordEnrollment's `seen`). */
export interface RecordSeen {
  /** The certificate's device's plan generation after the transaction's own bump; unset when no device row was locked. */
  devicePlanGeneration?: number;
}

// Issuance: enrollments, certificates, spent challenges, revocation and CRL
// state, and pending removals (a removal ends in a revocation, in one
// transaction with it).
export interface IssuanceStore {
  /**
   * Records removals as pending since `since`; a certificate already pending
   * keeps its earlier `since`. Returns the ones newly recorded.
   */
  addPendingRemovals(entries: Omit<PendingRemoval, 'since'>[], since: string): Promise<PendingRemoval[]>;
  /** Ordered by since, then serial. `since` given: only those pending since before it. */
  listPendingRemovals(filter?: { deviceId?: string; before?: string }): Promise<PendingRemoval[]>;
  /** Drops pending removals (the profile reaches the device again); returns how many. Advances the plan generation of the devices they were on, in the same transaction. */
  cancelPendingRemovals(serialNumbers: string[]): Promise<number>;
  /**
   * One transaction: drops the pending removal and revokes its certificate
   * (and renewals) with `reason` unless already revoked. null when no such
   * removal is pending (nothing written); else the serials newly revoked.
   */
  revokePendingRemoval(serialNumber: string, at: string, reason: RevocationReason): Promise<string[] | null>;

  getEnrollment(transactionId: string): Promise<Enrollment | null>;
  /**
   * One transaction: mark the challenge used (fails if it already is), insert
   * the enrollment, and when a certificate is given, insert it and link it.
   * Nothing is written when the result is not ok.
   *
   * The certificate is given exactly when `enrollment.status` is 'issued' (else
   * TypeError); its serial becomes the enrollment's certificateSerial. When both
   * the transactionId exists and the challenge is used, the answer is
   * 'transaction-exists' (a retry: answer from the stored enrollment). A duplicate
   * certificate serial throws StorageConflictError(conflict), also writing nothing.
   */
  recordEnrollment(
    challenge: ChallengeUse | null,
    enrollment: NewEnrollment,
    certificate: NewCertificate | null,
    /**
     * Audit records written in the same transaction, in this order (one
     * commit for the issuance and its trail: issue 13); bounded like
     * appendAudit. Written only when the result is ok.
     */
    audit?: readonly (Omit<AuditEvent, 'id' | 'at'> & { at?: string })[],
    /** Filled in when the result is ok: what the transaction saw (the CRP's read cache: core/crp/read-cache.ts). */
    seen?: RecordSeen,
  ): Promise<ConsumeResult>;
  /**
   * Pending -> issued, one transaction; false if the enrollment is not pending
   * (nothing written). The certificate's renewalOf is the enrollment's. Throws
   * StorageConflictError(conflict), writing nothing, when the enrollment's
   * device is blocked or the certificate it renews has been revoked.
   */
  completeEnrollment(transactionId: string, certificate: NewCertificate): Promise<boolean>;
  /** Pending -> rejected; false if not pending. */
  rejectEnrollment(transactionId: string): Promise<boolean>;
  /**
   * The newest `limit` enrollments, newest first (createdAt, then transactionId,
   * both descending; unlike the list* methods, which are oldest first). A limit
   * that is not a positive integer throws RangeError.
   */
  listRecentEnrollments(limit: number): Promise<Enrollment[]>;
  getCertificate(serialNumber: string): Promise<IssuedCertificate | null>;
  listCertificates(filter?: CertificateFilter): Promise<IssuedCertificate[]>;
  /**
   * What a device check-in's authentication reads, in one statement (issue
   * 13): the certificate, its device (null when it names none, or the device
   * was deleted), and whether that device holds another unrevoked identity
   * certificate (only then can the certificate be superseded, or a renewal
   * have an older identity left to revoke). null for an unknown serial.
   */
  getCertificateWithDevice(serialNumber: string): Promise<CertificateWithDevice | null>;
  /** How many certificates match the filter, per status at `asOf` (`after` and `limit` are ignored). */
  countCertificates(filter?: CertificateFilter): Promise<Record<CertificateStatus, number>>;
  findCertificateByThumbprint(thumbprint: string): Promise<IssuedCertificate | null>;
  /**
   * One transaction: revokes the certificate and every certificate renewed
   * from it, transitively (renewalOf), with the same time and reason;
   * `revoked` lists the serials newly revoked, the given one first (successors
   * already revoked keep their own time and reason). Refused, writing nothing,
   * when the serial is unknown or already revoked.
   */
  revokeCertificateChain(serialNumber: string, at: string, reason: RevocationReason): Promise<RevokeResult>;
  /**
   * Gives every certificate recorded without an issuer (rows from before
   * migration 0005, when the gateway had exactly one CA) that CA's id; returns
   * how many. The gateway calls it at start with its original CA.
   */
  assignLegacyIssuer(issuerId: string): Promise<number>;
  /** Every revoked certificate signed by the CA `issuerId` (CRL entries), oldest revocation first. */
  listRevoked(issuerId: string): Promise<RevokedEntry[]>;
  /** Count and newest revocation time of the CA's revoked set: one indexed query, asked on every CRL request. */
  revokedSetState(issuerId: string): Promise<RevokedSetState>;
  /**
   * The next CRL Number for the CA `issuerId` (1 for the first), atomically:
   * every caller, in any gateway instance sharing the database, gets a
   * different, larger number, also across restarts (migration 0009).
   */
  nextCrlNumber(issuerId: string): Promise<number>;
  /**
   * Revokes this one certificate only, not its renewals (a predecessor
   * superseded by its renewal: the renewal must live on). `revoked` is
   * `[serialNumber]`. Refused, writing nothing, when unknown or already revoked.
   */
  revokeCertificate(serialNumber: string, at: string, reason: RevocationReason): Promise<RevokeResult>;
  /**
   * Remembers that the identity challenge `challengeId` was minted to renew the
   * certificate `renewalOf`: recordEnrollment spending that challenge records
   * the enrollment and its certificate with that renewalOf (and refuses with
   * predecessor-revoked when it has been revoked). Kept until `expiresAt`
   * (purgeExpiredChallenges removes it after). Only an enrollment of kind
   * `identity` looks for it (identity challenges are the only ones noted).
   */
  noteIdentityRenewalChallenge(challengeId: string, renewalOf: string, expiresAt: string): Promise<void>;
  /**
   * The latest notAfter among the certificates a CA signed (revoked ones too:
   * their revocation is published until they expire); null when it signed none.
   * A retired CA stays published until then (CA rollover).
   */
  lastExpiryByIssuer(issuerId: string): Promise<string | null>;

  // ---- challenges (spent by recordEnrollment; the used-record is kept until the challenge expires)
  isChallengeUsed(id: string): Promise<boolean>;
  /**
   * isChallengeUsed and the plan generations of `deviceId` (null: none) in one
   * read: the CRP's early answer and the key of its read cache (core/crp/read-cache.ts).
   */
  getChallengeUse(id: string, deviceId: string | null): Promise<ChallengeUseAndGenerations>;
  /** Deletes used-challenge records whose expiry is before `now` (they can no longer be replayed); returns how many. */
  purgeExpiredChallenges(now: string): Promise<number>;
}
