import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { CsrInfo } from './csr-info.js';
import type { IdentityPolicy, IdentityRequest } from './crp/index.js';
import type { CertificateIssuer, IssuedCertificateData } from './issuer.js';
import { certificateRecord, enrollmentRecord } from './issued-records.js';
import type { Device, ResolvedRequest } from './model.js';
import type { Refusal } from './reasons.js';
import type { Storage } from './storage/storage.js';

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
  storage: Storage;
  issuer: CertificateIssuer;
  parseCsr: (der: Uint8Array) => Promise<CsrInfo>;
  identityPolicy: IdentityPolicy;
  log: Logger;
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
    }),
    certificateRecord('identity', transactionId, resolved, certificate),
  );
  if (!result.ok && result.reason === 'device-blocked') return refuse(deps, transactionId, actor, { code: 'DEVICE_BLOCKED', detail: 'blocked while the request was being decided' });
  if (!result.ok) return refuse(deps, transactionId, actor, { code: 'INTERNAL_ERROR', detail: result.reason });
  await deps.storage.appendAudit({
    transactionId,
    type: 'ca.issued',
    reasonCode: null,
    actor,
    details: { kind: 'identity', deviceId: device.id, serialNumber: certificate.serialNumber, thumbprint: certificate.thumbprint },
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
