import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { CsrInfo } from './csr-info.js';
import type { CertificateIssuer, IssuedCertificateData } from './issuer.js';
import { certificateRecord, enrollmentRecord } from './issued-records.js';
import { deviceBlockedRefusal } from './crp/device-not-blocked.js';
import { keyPolicyRefusal } from './key-policy.js';
import type { Device } from './model.js';
import { IDENTITY_KEY_SIZE, identityRequest } from './profile/resolve.js';
import type { Refusal } from './reasons.js';
import type { Storage } from './storage/storage.js';

// Direct issuance of a device identity certificate for enrollment protocols
// that carry a CSR themselves (Windows MS-WSTEP RequestSecurityToken). The
// caller has already authenticated the request (a one-time enrollment token),
// so there is no challenge; the certificate is still recorded before it is
// returned, under a transaction id of its own for the audit trail. Every
// refusal, a CA failure included, is audited and returned, never thrown.

export interface IdentityIssuanceDeps {
  storage: Storage;
  issuer: CertificateIssuer;
  parseCsr: (der: Uint8Array) => Promise<CsrInfo>;
  log: Logger;
}

export type IdentityCsrCheck = { ok: true; csr: CsrInfo } | { ok: false; refusal: Refusal };

/**
 * What issuance decides from the CSR alone: it parses, its signature
 * verifies, its key passes the key policy (core/key-policy.ts). An adapter
 * runs it before it spends anything (AdapterServices.precheckIdentityCsr), so
 * a CSR issuance would refuse is refused while the token is still unspent.
 */
export async function checkIdentityCsr(parseCsr: IdentityIssuanceDeps['parseCsr'], csrDer: Uint8Array): Promise<IdentityCsrCheck> {
  let csr: CsrInfo;
  try {
    csr = await parseCsr(csrDer);
  } catch (e) {
    return { ok: false, refusal: { code: 'MESSAGE_MALFORMED', detail: `CSR: ${(e as Error).message}` } };
  }
  if (!csr.signatureValid) return { ok: false, refusal: { code: 'CSR_SIGNATURE_INVALID' } };
  const weak = keyPolicyRefusal(csr.publicKey, IDENTITY_KEY_SIZE);
  return weak ? { ok: false, refusal: weak } : { ok: true, csr };
}

export async function issueIdentityCertificate(
  deps: IdentityIssuanceDeps,
  device: Device,
  csrDer: Uint8Array,
  actor: string,
): Promise<{ ok: true; certificate: IssuedCertificateData; transactionId: string } | { ok: false; refusal: Refusal }> {
  const transactionId = `identity-${randomUUID()}`;
  // The caller's copy of the device may be stale: read the block state now (the recording transaction checks once more).
  const blocked = deviceBlockedRefusal(await deps.storage.getDevice(device.id));
  if (blocked) return refuse(deps, transactionId, actor, blocked);
  const checked = await checkIdentityCsr(deps.parseCsr, csrDer);
  if (!checked.ok) return refuse(deps, transactionId, actor, checked.refusal);
  const resolved = identityRequest(device);
  let certificate: IssuedCertificateData;
  try {
    certificate = await deps.issuer.issue(resolved, checked.csr.publicKey.spki);
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
