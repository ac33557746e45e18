import type { DeliveryReport } from './adapter.js';
import type { Device, DeliveryStatus } from './model.js';
import type { Storage } from './storage/storage.js';

// Records what a device says about a profile. An "installed" report names a
// thumbprint; it is matched to the certificate we issued so the admin sees
// which issuance the device really holds (a thumbprint we never issued, or
// one issued to another device, is kept but flagged).

export async function recordDeliveryReport(storage: Storage, device: Device, report: DeliveryReport): Promise<DeliveryStatus> {
  const thumbprint = report.thumbprint?.toUpperCase() ?? null;
  let certificateSerial: string | null = null;
  let detail = report.detail ?? null;
  if (thumbprint) {
    const cert = await storage.findCertificateByThumbprint(thumbprint);
    if (cert && cert.deviceId === device.id && cert.profileId === report.profileId) certificateSerial = cert.serialNumber;
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
  return status;
}
