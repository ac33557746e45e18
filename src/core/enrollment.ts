import { createHash, X509Certificate } from 'node:crypto';
import type { CsrInfo } from './csr-info.js';
import { IssuancePending, IssuanceRefused, type CertificateIssuer, type IssuedCertificateData } from './issuer.js';
import type { Logger } from '../log.js';
import type { Enrollment } from './model.js';
import type { Approval, PolicyModule, PolicyRequest } from './policy-module.js';
import { REASONS, type Refusal } from './reasons.js';
import type { RecordSeen } from './storage/issuance-store.js';
import type { ConsumeResult, IssuanceStore, AuditStore, NewEnrollment, UpstreamRequestStore } from './storage/storage.js';
import { certificateRecord, enrollmentRecord } from './issued-records.js';
import type { NewAuditEvent } from './audit-log.js';

// The enrollment service is what the SCEP server calls once a pkiMessage is
// decoded: it remembers transactions (so a retried PKCSReq gets the same
// answer), asks the policy module, has the CA issue, and records the
// certificate in the same transaction that spends the challenge, before the
// certificate is handed back. It knows nothing of SCEP encoding or HTTP.

export type EnrollmentOutcome =
  | { status: 'issued'; certificate: Uint8Array }
  | { status: 'pending' }
  | { status: 'rejected'; refusal: Refusal };

export interface EnrollmentDeps {
  storage: IssuanceStore & AuditStore & UpstreamRequestStore;
  policy: PolicyModule;
  issuer: CertificateIssuer;
  parseCsr: (der: Uint8Array) => Promise<CsrInfo>;
  log: Logger;
  /** Where audit records go (core/audit-log.ts: refusals are rate-limited per source); default straight to storage. */
  audit?: AuditSink;
}

/**
 * Where audit records go. `appendFrom` takes the client address from the
 * caller (the SCEP fast path passes it down instead of an AsyncLocalStorage
 * scope: issue 13); without it, or without a source, `append` reads the
 * request-source context.
 */
export interface AuditSink {
  append(...events: NewAuditEvent[]): Promise<void>;
  appendFrom?(source: string | null, ...events: NewAuditEvent[]): Promise<void>;
}

/** A request as the SCEP service hands it over: `source` is the client address, when the caller passes it. */
type EnrollRequest = PolicyRequest & { renewalFallback?: boolean; source?: string };

const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Where a renewal that reused the transactionID of an earlier enrollment is remembered. */
function renewalKey(transactionId: string, signer: Uint8Array): string {
  let serial: string;
  try {
    serial = new X509Certificate(signer).serialNumber.toLowerCase();
  } catch {
    serial = sha256Hex(signer).slice(0, 32);
  }
  // '|' cannot occur in a transactionID (PrintableString, checked by the SCEP service): no client can squat this key.
  return `${transactionId}|${serial}`;
}

/**
 * What the audit keeps of a CSR's names: the subject as one DN string and the
 * first SANs, each cut short, with the counts. The CSR itself is identified by
 * csrSha256; a full copy is kept only for an enrollment that passed (pending).
 * (Before, 32 RDNs and 32 SANs of 256 characters each were copied: about 8 KB
 * per refused request.)
 */
const MAX_SUBJECT = 256;
const MAX_SAN = 128;
const MAX_SANS = 8;
function namesOf(csr: CsrInfo): Record<string, unknown> {
  const cut = (v: string, max: number) => (v.length > max ? `${v.slice(0, max)}…(truncated, ${Buffer.byteLength(v)} bytes)` : v);
  return {
    subject: cut(csr.subject.slice(0, 32).map((a) => `${a.type}=${a.value}`).join(', '), MAX_SUBJECT),
    ...(csr.subject.length > 32 && { subjectAttributes: csr.subject.length }),
    subjectAltNames: csr.subjectAltNames.slice(0, MAX_SANS).map((n) => ({ ...n, value: cut(n.value, MAX_SAN) })),
    ...(csr.subjectAltNames.length > MAX_SANS && { subjectAltNameCount: csr.subjectAltNames.length }),
  };
}

export class EnrollmentService {
  private readonly sink: AuditSink;

  constructor(private readonly deps: EnrollmentDeps) {
    this.sink = deps.audit ?? { append: async (...events) => { for (const e of events) await deps.storage.appendAudit(e); } };
  }

  /** PKCSReq and RenewalReq. */
  async enroll(request: EnrollRequest): Promise<EnrollmentOutcome> {
    const { source } = request;
    const csrSha256 = sha256Hex(request.csr.der);
    const transactionId = await this.enrollmentKey(request, csrSha256);
    let req: PolicyRequest = transactionId === request.transactionId ? request : { ...request, transactionId };
    // Held back until the outcome is known: a refused request's records are written
    // together with its refusal, under the per-source limit (core/audit-log.ts).
    const trail: NewAuditEvent[] = [
      this.record(transactionId, 'scep.received', null, {
        ...(transactionId !== request.transactionId && { scepTransactionId: request.transactionId }),
        messageType: req.messageType,
        ...(request.renewalFallback && { renewalFallback: true }),
        ...namesOf(req.csr),
        publicKey: { algorithm: req.csr.publicKey.algorithm, bits: req.csr.publicKey.bits },
        csrSha256,
      }),
    ];

    const previous = await this.deps.storage.getEnrollment(transactionId);
    if (previous) return this.answerRetry(previous, csrSha256, trail, source);

    let decision: Awaited<ReturnType<PolicyModule['evaluate']>>;
    try {
      decision = await this.deps.policy.evaluate(req);
      if (!decision.allow && request.renewalFallback && decision.refusal.code.startsWith('CHALLENGE_')) {
        // Its challenge is unusable, but it is signed by the certificate it renews.
        trail.push(this.record(transactionId, 'crp.renewal-fallback', null, { challengeRefusal: decision.refusal.code }));
        req = { ...req, messageType: 'RenewalReq' };
        decision = await this.deps.policy.evaluate(req);
      }
    } catch (e) {
      await this.write(trail); // a policy fault: keep what was received
      throw e;
    }
    if (!decision.allow) return this.refuse(transactionId, decision.refusal, 'crp.refused', trail, source);
    // Still held: an issuance writes them in its own transaction (commit()).
    trail.push(this.record(transactionId, 'crp.passed', null, { policy: this.deps.policy.name, kind: decision.approval.kind }));

    const outcome = await this.commit(req, csrSha256, decision.approval, trail);
    if (outcome === 'transaction-exists') {
      // Another request with this transactionID won the race: answer as a retry.
      const winner = await this.deps.storage.getEnrollment(transactionId);
      if (winner) return this.answerRetry(winner, csrSha256, [], source);
    }
    if (outcome === 'challenge-used' || outcome === 'transaction-exists') {
      return this.refuse(transactionId, { code: 'CHALLENGE_ALREADY_USED', detail: 'spent by a concurrent request' }, 'crp.refused', [], source);
    }
    // The policy said yes, but a block or revocation committed before the certificate could be recorded.
    if (outcome === 'device-blocked') {
      return this.refuse(transactionId, { code: 'DEVICE_BLOCKED', detail: 'blocked while the request was being decided' }, 'crp.refused', [], source);
    }
    if (outcome === 'predecessor-revoked') {
      return this.refuse(transactionId, { code: 'RENEWAL_SIGNER_REVOKED', detail: 'revoked while the renewal was being decided' }, 'crp.refused', [], source);
    }
    return outcome;
  }

  /**
   * CertPoll / GetCertInitial. A poll for a renewal that reused its
   * transactionID is signed with the certificate being renewed, so that
   * renewal's own key is tried first; otherwise the poll would find the
   * original enrollment and hand back the old certificate.
   */
  async poll(scepTransactionId: string, signerCertificate?: Uint8Array, source?: string): Promise<EnrollmentOutcome> {
    const renewal = signerCertificate ? await this.deps.storage.getEnrollment(renewalKey(scepTransactionId, signerCertificate)) : null;
    const e = renewal ?? (await this.deps.storage.getEnrollment(scepTransactionId));
    const transactionId = e?.transactionId ?? scepTransactionId;
    if (!e) return this.refuse(transactionId, { code: 'TRANSACTION_UNKNOWN' }, 'scep.poll.refused', [], source);
    await this.audit(transactionId, 'scep.poll', null, { status: e.status });
    return this.stateOf(e);
  }

  /** GetCert: a certificate we issued, by serial number. */
  async certificate(serialNumber: string): Promise<Uint8Array | null> {
    const c = await this.deps.storage.getCertificate(serialNumber);
    return c ? c.der : null;
  }

  /** Admin approval of a PENDING enrollment: issue now, so CertPoll finds it. */
  async approve(transactionId: string, actor: string): Promise<'issued' | 'forwarded' | 'not-found' | 'not-pending'> {
    const e = await this.deps.storage.getEnrollment(transactionId);
    if (!e) return 'not-found';
    if (e.status !== 'pending' || !e.resolved) return 'not-pending';
    const csr = await this.deps.parseCsr(e.csrDer);
    let cert: IssuedCertificateData;
    try {
      // A throw here is the admin's error (IssuanceRefused: the upstream CA's answer), nothing recorded.
      cert = await this.deps.issuer.issue(e.resolved, csr.publicKey.spki, { csrDer: e.csrDer, transactionId });
    } catch (err) {
      if (!(err instanceof IssuancePending)) throw err;
      // The profile's upstream CA answered PENDING in its turn: the poller takes over.
      const at = new Date().toISOString();
      await this.deps.storage.addUpstreamRequest({ transactionId, upstream: err.upstream, state: err.state, createdAt: at, nextPollAt: at });
      await this.audit(transactionId, 'upstream.pending', null, { upstream: err.upstream, approvedBy: actor }, actor);
      return 'forwarded';
    }
    const done = await this.deps.storage.completeEnrollment(transactionId, certificateRecord(e.kind, transactionId, e.resolved, cert));
    if (!done) return 'not-pending';
    await this.audit(transactionId, 'ca.issued', null, { serialNumber: cert.serialNumber, subject: cert.subject, approvedBy: actor }, actor);
    return 'issued';
  }

  async reject(transactionId: string, actor: string): Promise<'rejected' | 'not-found' | 'not-pending'> {
    const e = await this.deps.storage.getEnrollment(transactionId);
    if (!e) return 'not-found';
    if (!(await this.deps.storage.rejectEnrollment(transactionId))) return 'not-pending';
    await this.audit(transactionId, 'admin.enrollment.rejected', 'ENROLLMENT_REJECTED', {}, actor);
    return 'rejected';
  }

  // ---- internals

  /**
   * The key an enrollment is remembered under: the SCEP transactionID, except
   * for a renewal that reuses the transactionID of another enrollment.
   * micromdm scepclient and certmonger derive the transactionID from the
   * public key (as draft-nourse-scep suggested), so renewing with the same key
   * repeats the transactionID of the enrollment that issued the certificate
   * now signing the request. That is a new transaction, not a retry: answered
   * as a retry it would hand back the old certificate (scepclient) or refuse
   * TRANSACTION_CSR_MISMATCH (certmonger's new CSR). Such a renewal is
   * remembered under `<transactionID>|<signer serial>`, so retrying IT still
   * gets the same answer. The CertRep still echoes the client's transactionID.
   * CertPoll finds a PENDING renewal stored this way too: poll() tries this key
   * first when the poll is signed with the certificate being renewed.
   */
  private async enrollmentKey(req: PolicyRequest & { renewalFallback?: boolean }, csrSha256: string): Promise<string> {
    const tid = req.transactionId;
    if (req.messageType !== 'RenewalReq' && !req.renewalFallback) return tid;
    const previous = await this.deps.storage.getEnrollment(tid);
    if (!previous) return tid;
    const signer = Buffer.from(req.signerCertificate);
    const previousCert = previous.certificateSerial ? await this.deps.storage.getCertificate(previous.certificateSerial) : null;
    const signedByItsOwnResult = previousCert !== null && Buffer.from(previousCert.der).equals(signer);
    // A retry of a renewal: same CSR, and not signed by what that renewal produced.
    if (previous.challengeId === null && previous.csrSha256 === csrSha256 && !signedByItsOwnResult) return tid;
    return renewalKey(tid, signer);
  }

  /**
   * `held`: the audit records of this request so far (scep.received,
   * crp.passed), not yet written. An issuance writes them with its ca.issued
   * inside the issuing transaction (one commit instead of four: issue 13), so
   * an issued certificate never lacks its trail; every other outcome writes
   * them first, as before.
   */
  private async commit(req: PolicyRequest, csrSha256: string, approval: Approval, held: NewAuditEvent[]): Promise<EnrollmentOutcome | Exclude<ConsumeResult, { ok: true }>['reason']> {
    const { transactionId } = req;
    const { resolved } = approval;
    const enrollment = enrollmentRecord({
      transactionId,
      status: approval.requireApproval ? 'pending' : 'issued',
      kind: approval.kind,
      resolved,
      challengeId: approval.challenge?.id ?? null,
      csrSha256,
      csrDer: req.csr.der,
      renewalOf: approval.renewalOf,
    });
    if (approval.requireApproval) {
      await this.write(held);
      const r = await this.deps.storage.recordEnrollment(approval.challenge, enrollment, null);
      if (!r.ok) return r.reason;
      await this.audit(transactionId, 'scep.pending', null, { reason: 'the profile requires administrator approval' });
      return { status: 'pending' };
    }
    // Sign first (about a millisecond), then spend the challenge and record the
    // certificate in one transaction: if that fails the certificate was never
    // handed out, so nothing issued is lost.
    let cert: IssuedCertificateData;
    try {
      cert = await this.deps.issuer.issue(resolved, req.csr.publicKey.spki, { csrDer: req.csr.der, transactionId });
    } catch (e) {
      await this.write(held);
      if (e instanceof IssuancePending) return this.pendingUpstream(approval, enrollment, e);
      if (e instanceof IssuanceRefused) return this.refusedUpstream(transactionId, e);
      // The CA could not sign (e.g. a value it cannot encode): a signed FAILURE
      // the device can show, not a bare HTTP 500; nothing was spent or recorded.
      this.deps.log.error({ err: e, transactionId }, 'the CA could not issue');
      return { status: 'rejected', refusal: { code: 'INTERNAL_ERROR', detail: `the CA could not issue: ${(e as Error).message}` } };
    }
    const trail = [
      ...held,
      this.record(transactionId, 'ca.issued', null, {
        serialNumber: cert.serialNumber,
        subject: cert.subject,
        notAfter: cert.notAfter.toISOString(),
        thumbprint: cert.thumbprint,
      }),
    ];
    let r: ConsumeResult;
    const seen: RecordSeen = {};
    try {
      r = await this.deps.storage.recordEnrollment(
        approval.challenge,
        enrollment,
        { ...certificateRecord(approval.kind, transactionId, resolved, cert), renewalOf: approval.renewalOf },
        trail,
        seen,
      );
    } catch (e) {
      // Nothing was written: keep what was received and decided, as before (the write's own failure must not hide this one).
      await this.write(held).catch(() => undefined);
      throw e;
    }
    if (!r.ok) {
      await this.write(held); // the refusal follows (enroll())
      return r.reason;
    }
    this.deps.policy.issued?.(approval, seen.devicePlanGeneration);
    this.logSteps(trail);
    return { status: 'issued', certificate: cert.der };
  }

  /**
   * The upstream CA answered PENDING: the challenge is spent and the enrollment
   * recorded as pending, like one waiting for an administrator; the poller
   * (ca/upstream/poller.ts) settles it through settleUpstream.
   */
  private async pendingUpstream(approval: Approval, enrollment: NewEnrollment, pending: IssuancePending): Promise<EnrollmentOutcome | Exclude<ConsumeResult, { ok: true }>['reason']> {
    const { transactionId } = enrollment;
    const r = await this.deps.storage.recordEnrollment(approval.challenge, { ...enrollment, status: 'pending' }, null);
    if (!r.ok) return r.reason;
    const at = new Date().toISOString();
    await this.deps.storage.addUpstreamRequest({ transactionId, upstream: pending.upstream, state: pending.state, createdAt: at, nextPollAt: at });
    await this.audit(transactionId, 'upstream.pending', null, { upstream: pending.upstream });
    return { status: 'pending' };
  }

  /** The upstream CA refused or could not be asked: a signed FAILURE; nothing was spent or recorded. */
  private async refusedUpstream(transactionId: string, e: IssuanceRefused): Promise<EnrollmentOutcome> {
    const code = e.kind === 'refused' ? 'UPSTREAM_REFUSED' : 'UPSTREAM_UNAVAILABLE';
    this.deps.log.warn({ transactionId, upstream: e.upstream, upstreamCode: e.upstreamCode, detail: e.message }, 'the upstream CA did not issue');
    return this.refuse(transactionId, { code, detail: `${e.upstream}: ${e.message}${e.upstreamCode ? ` (${e.upstreamCode})` : ''}` }, 'upstream.refused');
  }

  /**
   * The poller's answer for an enrollment the upstream CA had left PENDING:
   * the certificate is recorded (so CertPoll finds it) before anything else, or
   * the enrollment is rejected with the upstream's reason in the audit log.
   */
  async settleUpstream(transactionId: string, result: { status: 'issued'; certificate: IssuedCertificateData; upstream: string } | { status: 'failed'; upstream: string; kind: IssuanceRefused['kind']; detail: string; upstreamCode?: string }): Promise<'settled' | 'not-pending'> {
    const e = await this.deps.storage.getEnrollment(transactionId);
    if (!e || e.status !== 'pending' || !e.resolved) return 'not-pending';
    if (result.status === 'issued') {
      const cert = result.certificate;
      const done = await this.deps.storage.completeEnrollment(transactionId, certificateRecord(e.kind, transactionId, e.resolved, cert));
      if (!done) return 'not-pending';
      await this.audit(transactionId, 'ca.issued', null, { serialNumber: cert.serialNumber, subject: cert.subject, notAfter: cert.notAfter.toISOString(), thumbprint: cert.thumbprint, upstream: result.upstream }, 'upstream');
      return 'settled';
    }
    if (!(await this.deps.storage.rejectEnrollment(transactionId))) return 'not-pending';
    const code = result.kind === 'refused' ? 'UPSTREAM_REFUSED' : 'UPSTREAM_UNAVAILABLE';
    await this.audit(transactionId, 'upstream.refused', code, { upstream: result.upstream, detail: result.detail, ...(result.upstreamCode && { upstreamCode: result.upstreamCode }) }, 'upstream');
    return 'settled';
  }

  private async answerRetry(previous: Enrollment, csrSha256: string, trail: NewAuditEvent[], source: string | undefined): Promise<EnrollmentOutcome> {
    if (previous.csrSha256 !== csrSha256) {
      return this.refuse(previous.transactionId, { code: 'TRANSACTION_CSR_MISMATCH', expected: previous.csrSha256, received: csrSha256 }, 'scep.refused', trail, source);
    }
    await this.write(trail);
    await this.audit(previous.transactionId, 'scep.retry', null, { status: previous.status });
    return this.stateOf(previous);
  }

  private async stateOf(e: Enrollment): Promise<EnrollmentOutcome> {
    if (e.status === 'pending') return { status: 'pending' };
    if (e.status === 'rejected') {
      // Rejected by the upstream CA rather than by an administrator: say so (the poller audited why).
      const [upstream] = await this.deps.storage.listAudit({ transactionId: e.transactionId, type: 'upstream.refused', limit: 1 });
      const code = upstream?.reasonCode === 'UPSTREAM_REFUSED' || upstream?.reasonCode === 'UPSTREAM_UNAVAILABLE' ? upstream.reasonCode : 'ENROLLMENT_REJECTED';
      return { status: 'rejected', refusal: { code } };
    }
    const cert = e.certificateSerial ? await this.deps.storage.getCertificate(e.certificateSerial) : null;
    if (!cert) return { status: 'rejected', refusal: { code: 'INTERNAL_ERROR', detail: 'issued enrollment without certificate' } };
    return { status: 'issued', certificate: cert.der };
  }

  /**
   * A refusal, written with the records held back for it (`trail`) as one
   * group; `source` (the client address) decides the per-source limit of an
   * unauthenticated refusal (core/audit-log.ts).
   */
  private async refuse(transactionId: string, refusal: Refusal, type: string, trail: NewAuditEvent[] = [], source?: string): Promise<EnrollmentOutcome> {
    const row = this.record(transactionId, type, refusal.code, {
      text: REASONS[refusal.code].text,
      ...(refusal.detail !== undefined && { detail: refusal.detail }),
      ...(refusal.expected !== undefined && { expected: refusal.expected }),
      ...(refusal.received !== undefined && { received: refusal.received }),
    });
    await this.write([...trail, row], source);
    return { status: 'rejected', refusal };
  }

  /** One audit record per step, and one log line with the same transactionId to trace it. */
  private async audit(transactionId: string, type: string, reasonCode: Refusal['code'] | null, details: Record<string, unknown>, actor = 'scep') {
    await this.write([this.record(transactionId, type, reasonCode, details, actor)]);
  }

  private record(transactionId: string, type: string, reasonCode: Refusal['code'] | null, details: Record<string, unknown>, actor = 'scep'): NewAuditEvent {
    return { transactionId, type, reasonCode, actor, details };
  }

  private async write(events: NewAuditEvent[], source?: string): Promise<void> {
    if (events.length === 0) return;
    if (source !== undefined && this.sink.appendFrom) await this.sink.appendFrom(source, ...events);
    else await this.sink.append(...events);
    this.logSteps(events);
  }

  /**
   * The log lines of stored records: a refusal gets a warn line of its own;
   * the steps that passed, written together (an issuance's scep.received,
   * crp.passed, ca.issued), share one info line, `steps` in order and the
   * message naming them, with the same transactionId (issue 13: a log line
   * costs about as much as a SQL statement, and an enrollment wrote five).
   */
  private logSteps(events: NewAuditEvent[]): void {
    let passed: NewAuditEvent[] = [];
    const flush = () => {
      if (passed.length === 1) this.deps.log.info({ transactionId: passed[0]!.transactionId, step: passed[0]!.type, actor: passed[0]!.actor }, passed[0]!.type);
      else if (passed.length > 1) {
        const steps = passed.map((e) => e.type);
        this.deps.log.info({ transactionId: passed[0]!.transactionId, steps, actor: passed[0]!.actor }, steps.join(', '));
      }
      passed = [];
    };
    for (const e of events) {
      const reason = e.reasonCode as Refusal['code'] | null;
      // One line per transaction and actor: a group is one request's, but keep the line truthful if not.
      if (passed.length > 0 && (reason || passed[0]!.transactionId !== e.transactionId || passed[0]!.actor !== e.actor)) flush();
      if (reason) this.deps.log.warn({ transactionId: e.transactionId, step: e.type, reason, actor: e.actor }, REASONS[reason].text);
      else passed.push(e);
    }
    flush();
  }
}
