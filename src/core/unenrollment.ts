import type { AuditLog } from './audit-log.js';
import type { Device, RevocationReason } from './model.js';
import type { DirectoryStore } from './storage/storage.js';

// A device that left management (Apple CheckOut, the Windows unenroll alert,
// the Android agent's unenroll call). Its identity certificate must stop
// working, and so must its profile certificates: the platform removes them
// with the enrollment, and a copy left behind on an unmanaged device is
// exactly what revocation is for. The device record stays (it may enroll again).

export const UNENROLL_REVOCATION_REASON: RevocationReason = 'cessationOfOperation';

export async function recordUnenrollment(
  d: { storage: DirectoryStore; auditLog: AuditLog },
  device: Device,
  source: { adapter: string; detail: string },
  now: Date,
): Promise<string[]> {
  const revoked = (await d.storage.revokeDeviceCertificates(device.id, now.toISOString(), UNENROLL_REVOCATION_REASON)) ?? [];
  await d.auditLog.append({
    transactionId: null,
    type: 'device.unenrolled',
    reasonCode: null,
    actor: `device:${device.id}`,
    details: { deviceId: device.id, ...source, reason: UNENROLL_REVOCATION_REASON, revoked },
  });
  return revoked;
}
