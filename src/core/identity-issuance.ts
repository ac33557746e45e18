import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { CsrInfo } from './csr-info.js';
import type { IdentityPolicy, IdentityRequest } from './crp/index.js';
import type { CertificateIssuer, IssuedCertificateData } from './issuer.js';
import { certificateRecord, enrollmentRecord } from './issued-records.js';
import { identityRenewalDue } from './identity-renewal.js';
import type { Device, IssuedCertificate, RdnAttribute, ResolvedRequest } from './model.js';
import type { Refusal } from './reasons.js';
import type { IssuanceStore, AuditStore } from './storage/storage.js';

// Direct issuance of a device identity certificate for enrollment protocols
// that carry a CSR themselves (Windows MS-WSTEP RequestSecurityToken). The
// caller has already authenticated the request (a one-time enrollment token),
// so there is no challenge. What may be issued is the CRP's decision, its
// IdentityReq row (crp/index.ts: device exists, not blocked, CSR signature,
// key policy); this module parses, asks, issues and records. The certificate
// is recorded before it is returned, under a transaction id of its own for
// the audit trail. Every refusal, a CA failure included, is audited and
// returned, never thrown.

export interface IdentityIssuanceDeps {
  storage: IssuanceStore & AuditStore;
  issuer: CertificateIssuer;
  parseCsr: (der: Uint8Array) => Promise<CsrInfo>;
  identityPolicy: IdentityPolicy;
  log: Logger;
  /** The gateway's clock (renewal period, expiry of the identity being renewed); the system clock by default. */
  now?: () => Date;
}

type Decided = { ok: true; csr: CsrInfo; resolved: ResolvedRequest } | { ok: false; refusal: Refusal };

/**
 * Parses the CSR (an unparsable one is MESSAGE_MALFORMED, as the SCEP codec
 * answers before the CRP) and runs the IdentityReq row on it.
 */
async function decide(deps: Pick<IdentityIssuanceDeps, 'parseCsr' | 'identityPolicy'>, transactionId: string, deviceId: string | null, csrDer: Uint8Array, dryRun: boolean): Promise<Decided> {
  let csr: CsrInfo;
  try {
    csr = await deps.parseCsr(csrDer);
  } catch (e) {
    return { ok: false, refusal: { code: 'MESSAGE_MALFORMED', detail: `CSR: ${(e as Error).message}` } };
  }
  const request: IdentityRequest = { transactionId, messageType: 'IdentityReq', csr, deviceId, receivedAt: new Date() };
  const decision = await deps.identityPolicy.evaluateIdentity(request, { dryRun });
  return decision.allow ? { ok: true, csr, resolved: decision.approval.resolved } : { ok: false, refusal: decision.refusal };
}

/**
 * The IdentityReq row as a dry run, before the enrollment has made or chosen
 * its device: nothing is issued, recorded or audited. An adapter runs it
 * before it spends anything (AdapterServices.precheckIdentityCsr), so a CSR
 * issuance would refuse is refused while the token is still unspent; being
 * the same row, it cannot pass a CSR that issuance then refuses.
 */
export async function precheckIdentityCsr(deps: Pick<IdentityIssuanceDeps, 'parseCsr' | 'identityPolicy'>, csrDer: Uint8Array): Promise<Refusal | null> {
  const decided = await decide(deps, `identity-precheck-${randomUUID()}`, null, csrDer, true);
  return decided.ok ? null : decided.refusal;
}

export async function issueIdentityCertificate(
  deps: IdentityIssuanceDeps,
  device: Device,
  csrDer: Uint8Array,
  actor: string,
): Promise<{ ok: true; certificate: IssuedCertificateData; transactionId: string } | { ok: false; refusal: Refusal }> {
  const transactionId = `identity-${randomUUID()}`;
  // The row reads the device again: the caller's copy may be stale (the recording transaction checks the block once more).
  const decided = await decide(deps, transactionId, device.id, csrDer, false);
  if (!decided.ok) return refuse(deps, transactionId, actor, decided.refusal);
  return issueAndRecord(deps, device, csrDer, actor, transactionId, decided, null);
}

/**
 * Renewal of the device identity `current` (the certificate the request was
 * authenticated with: Windows' TLS client certificate and PKCS#7 signer,
 * Android's agent) from a new CSR: `current` must be this device's identity,
 * unrevoked, unexpired and inside its renewal period (core/identity-renewal.ts);
 * the CSR must pass the IdentityReq row and name the same requester as the CSR
 * `current` was issued from (its subject: Windows' own, the identity subject
 * elsewhere). The new certificate records renewalOf = current; `current` is
 * revoked (superseded) only once the new one is used (device-identity.ts).
 */
export async function renewIdentityCertificate(
  deps: IdentityIssuanceDeps,
  device: Device,
  csrDer: Uint8Array,
  current: IssuedCertificate,
  actor: string,
): Promise<{ ok: true; certificate: IssuedCertificateData; transactionId: string } | { ok: false; refusal: Refusal }> {
  const transactionId = `identity-renewal-${randomUUID()}`;
  const now = (deps.now ?? (() => new Date()))();
  const fail = (refusal: Refusal) => refuse(deps, transactionId, actor, { ...refusal, detail: [refusal.detail, `renewing ${current.serialNumber}`].filter(Boolean).join('; ') });
  if (current.kind !== 'identity' || current.deviceId !== device.id) return fail({ code: 'RENEWAL_SIGNER_UNKNOWN', detail: 'not an identity certificate of this device' });
  if (current.revokedAt !== null) return fail({ code: 'RENEWAL_SIGNER_REVOKED' });
  if (now.getTime() > Date.parse(current.notAfter)) return fail({ code: 'RENEWAL_SIGNER_EXPIRED' });
  if (!identityRenewalDue(current, now)) return fail({ code: 'RENEWAL_NOT_DUE', detail: `not before the last part of its validity (${current.notBefore} to ${current.notAfter})` });
  const decided = await decide(deps, transactionId, device.id, csrDer, false);
  if (!decided.ok) return fail(decided.refusal);
  const expected = await requesterSubject(deps, current);
  if (expected && !sameSubject(expected, decided.csr.subject)) {
    return fail({ code: 'RENEWAL_SUBJECT_MISMATCH', expected: rdnText(expected), received: rdnText(decided.csr.subject) });
  }
  return issueAndRecord(deps, device, csrDer, actor, transactionId, decided, current.serialNumber);
}

/** The subject of the CSR `current` was issued from (what the requester called itself then); null when not on record. */
async function requesterSubject(deps: IdentityIssuanceDeps, current: IssuedCertificate): Promise<RdnAttribute[] | null> {
  const enrollment = current.transactionId ? await deps.storage.getEnrollment(current.transactionId) : null;
  if (!enrollment) return null;
  try {
    return (await deps.parseCsr(enrollment.csrDer)).subject;
  } catch {
    return null;
  }
}

const rdnText = (rdns: readonly RdnAttribute[]) => rdns.map((r) => `${r.type}=${r.value}`).join(',');
const sameSubject = (a: readonly RdnAttribute[], b: readonly RdnAttribute[]) => rdnText(a) === rdnText(b);

async function issueAndRecord(
  deps: IdentityIssuanceDeps,
  device: Device,
  csrDer: Uint8Array,
  actor: string,
  transactionId: string,
  decided: Extract<Decided, { ok: true }>,
  renewalOf: string | null,
): Promise<{ ok: true; certificate: IssuedCertificateData; transactionId: string } | { ok: false; refusal: Refusal }> {
  const { csr, resolved } = decided;
  let certificate: IssuedCertificateData;
  try {
    certificate = await deps.issuer.issue(resolved, csr.publicKey.spki);
  } catch (e) {
    // The CA could not sign (key or HSM unavailable, a value it cannot encode):
    // audited and refused like any other reason, nothing recorded (as in enrollment.ts).
    deps.log.error({ err: e, transactionId }, 'the CA could not issue an identity certificate');
    return refuse(deps, transactionId, actor, { code: 'INTERNAL_ERROR', detail: `the CA could not issue: ${(e as Error).message}` });
  }
  const result = await deps.storage.recordEnrollment(
    null,
    enrollmentRecord({
      transactionId,
      status: 'issued',
      kind: 'identity',
      resolved,
      challengeId: null,
      csrSha256: createHash('sha256').update(csrDer).digest('hex'),
      csrDer,
      renewalOf,
    }),
    { ...certificateRecord('identity', transactionId, resolved, certificate), renewalOf },
  );
  if (!result.ok && result.reason === 'device-blocked') return refuse(deps, transactionId, actor, { code: 'DEVICE_BLOCKED', detail: 'blocked while the request was being decided' });
  if (!result.ok && result.reason === 'predecessor-revoked') return refuse(deps, transactionId, actor, { code: 'RENEWAL_SIGNER_REVOKED', detail: 'revoked while the renewal was being decided' });
  if (!result.ok) return refuse(deps, transactionId, actor, { code: 'INTERNAL_ERROR', detail: result.reason });
  await deps.storage.appendAudit({
    transactionId,
    type: 'ca.issued',
    reasonCode: null,
    actor,
    details: { kind: 'identity', deviceId: device.id, serialNumber: certificate.serialNumber, thumbprint: certificate.thumbprint, ...(renewalOf && { renewalOf }) },
  });
  return { ok: true, certificate, transactionId };
}

async function refuse(deps: IdentityIssuanceDeps, transactionId: string, actor: string, refusal: Refusal) {
  await deps.storage.appendAudit({
    transactionId,
    type: 'identity.refused',
    reasonCode: refusal.code,
    actor,
    details: { ...(refusal.detail && { detail: refusal.detail }), ...(refusal.expected !== undefined && { expected: refusal.expected, received: refusal.received }) },
  });
  return { ok: false as const, refusal };
}
