import { createHash, randomUUID } from 'node:crypto';
import type { CsrInfo } from './csr-info.js';
import type { CertificateIssuer, IssuedCertificateData } from './issuer.js';
import { deviceBlockedRefusal } from './crp/device-not-blocked.js';
import type { Device } from './model.js';
import { identityRequest } from './profile/resolve.js';
import type { Refusal } from './reasons.js';
import type { Storage } from './storage/storage.js';

// Direct issuance of a device identity certificate for enrollment protocols
// that carry a CSR themselves (Windows MS-WSTEP RequestSecurityToken). The
// caller has already authenticated the request (a one-time enrollment token),
// so there is no challenge; the certificate is still recorded before it is
// returned, under a transaction id of its own for the audit trail.

export interface IdentityIssuanceDeps {
  storage: Storage;
  issuer: CertificateIssuer;
  parseCsr: (der: Uint8Array) => Promise<CsrInfo>;
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
  let csr: CsrInfo;
  try {
    csr = await deps.parseCsr(csrDer);
  } catch (e) {
    return refuse(deps, transactionId, actor, { code: 'MESSAGE_MALFORMED', detail: `CSR: ${(e as Error).message}` });
  }
  if (!csr.signatureValid) return refuse(deps, transactionId, actor, { code: 'CSR_SIGNATURE_INVALID' });
  const resolved = identityRequest(device);
  const strongEnough = (csr.publicKey.algorithm === 'RSA' && csr.publicKey.bits >= resolved.keySize) || (csr.publicKey.algorithm === 'EC' && (csr.publicKey.bits === 256 || csr.publicKey.bits === 384));
  if (!strongEnough) {
    return refuse(deps, transactionId, actor, {
      code: csr.publicKey.algorithm === 'RSA' ? 'KEY_TOO_SHORT' : 'KEY_ALGORITHM_UNSUPPORTED',
      expected: `RSA >= ${resolved.keySize} or EC P-256/P-384`,
      received: `${csr.publicKey.algorithm} ${csr.publicKey.bits}`,
    });
  }
  const certificate = await deps.issuer.issue(resolved, csr.publicKey.spki);
  const result = await deps.storage.recordEnrollment(
    null,
    {
      transactionId,
      status: 'issued',
      kind: 'identity',
      challengeId: null,
      profileId: null,
      profileVersion: null,
      deviceId: device.id,
      userId: null,
      csrSha256: createHash('sha256').update(csrDer).digest('hex'),
      csrDer,
      resolved,
    },
    {
      serialNumber: certificate.serialNumber,
      kind: 'identity',
      subject: certificate.subject,
      notBefore: certificate.notBefore.toISOString(),
      notAfter: certificate.notAfter.toISOString(),
      thumbprint: certificate.thumbprint,
      sha256: certificate.sha256,
      transactionId,
      profileId: null,
      profileVersion: null,
      deviceId: device.id,
      userId: null,
      der: certificate.der,
    },
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
