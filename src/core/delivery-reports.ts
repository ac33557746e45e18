import type { DeliveryReport } from './adapter.js';
import { revokeSuperseded } from './identity-renewal.js';
import type { Device, DeliveryStatus, IssuedCertificate } from './model.js';
import type { IssuanceStore, DeliveryStore, AuditStore } from './storage/storage.js';

// Records what a device says about a profile. An "installed" report names a
// thumbprint; it is matched to the certificate we issued so the admin sees
// which issuance the device really holds (a thumbprint we never issued, or
// one issued to another device, is kept but flagged).
//
// An installed certificate replaces the older certificates of the same profile
// on the device (same SCEP node, PayloadIdentifier or KeyChain alias): once it
// is reported, those are revoked with reason `superseded`
// (core/identity-renewal.ts), renewals and re-issues alike.

/** `now`: the gateway's clock, the revocation time of what the report supersedes. */
export async function recordDeliveryReport(storage: IssuanceStore & DeliveryStore & AuditStore, device: Device, report: DeliveryReport, now: Date = new Date()): Promise<DeliveryStatus> {
  const thumbprint = report.thumbprint?.toUpperCase() ?? null;
  let certificateSerial: string | null = null;
  let installed: IssuedCertificate | null = null;
  let detail = report.detail ?? null;
  if (thumbprint) {
    const cert = await storage.findCertificateByThumbprint(thumbprint);
    if (cert && cert.deviceId === device.id && cert.profileId === report.profileId) {
      certificateSerial = cert.serialNumber;
      installed = cert;
    }
    else detail = [detail, 'the thumbprint matches no certificate this gateway issued to this device for this profile'].filter(Boolean).join('; ');
  }
  const status = await storage.putDeliveryStatus({
    deviceId: device.id,
    profileId: report.profileId,
    profileVersion: report.profileVersion,
    state: report.state,
    thumbprint,
    certificateSerial,
    errorCode: report.errorCode ?? null,
    detail,
  });
  await storage.appendAudit({
    transactionId: null,
    type: 'device.report',
    reasonCode: null,
    actor: `device:${device.id}`,
    details: { ...status },
  });
  if (report.state === 'installed' && installed) await revokeSuperseded(storage, installed, now, `device:${device.id}`);
  return status;
}
