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

/** What a report stores: the thumbprint matched to the certificate we issued (or flagged in the detail). */
async function statusOf(storage: IssuanceStore, device: Device, report: DeliveryReport): Promise<{ status: Omit<DeliveryStatus, 'updatedAt'>; installed: IssuedCertificate | null }> {
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
  const status = {
    deviceId: device.id,
    profileId: report.profileId,
    profileVersion: report.profileVersion,
    state: report.state,
    thumbprint,
    certificateSerial,
    errorCode: report.errorCode ?? null,
    detail,
  };
  return { status, installed };
}

/** `now`: the gateway's clock, the revocation time of what the report supersedes. */
export async function recordDeliveryReport(storage: IssuanceStore & DeliveryStore & AuditStore, device: Device, report: DeliveryReport, now: Date = new Date()): Promise<DeliveryStatus> {
  const { status: st, installed } = await statusOf(storage, device, report);
  const status = await storage.putDeliveryStatus(st);
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

/**
 * Several reports of one device (one message of its session), as
 * recordDeliveryReport each in turn, with every status and audit record in one
 * transaction (issue 13); a later report of the same profile wins, as it would
 * one after the other. The supersession revocations follow, in report order.
 */
export async function recordDeliveryReports(
  storage: IssuanceStore & DeliveryStore & AuditStore,
  device: Device,
  reports: readonly DeliveryReport[],
  now: Date = new Date(),
  /** Written in the same transaction, compare-and-set: when it does not hold, nothing is written and the result is null. */
  withState?: { adapter: string; state: Record<string, unknown>; expectedVersion: number },
): Promise<DeliveryStatus[] | null> {
  const read = await readDeliveryReports(storage, device, reports);
  const entries = read.map((r) => ({ status: r.status, actor: `device:${device.id}` }));
  const stored = withState ? await storage.putDeliveryStatusesWithState(entries, { deviceId: device.id, ...withState }) : await storage.putDeliveryStatuses(entries);
  if (stored === null) return null;
  await settleDeliveryReports(storage, device, reports, read, now);
  return stored;
}

/** What each report stores (its thumbprint matched), for a caller writing them in its own transaction. */
export async function readDeliveryReports(storage: IssuanceStore, device: Device, reports: readonly DeliveryReport[]): Promise<Awaited<ReturnType<typeof statusOf>>[]> {
  const read = [];
  for (const r of reports) read.push(await statusOf(storage, device, r));
  return read;
}

/** After the reports were written: the supersession revocations, in report order. */
export async function settleDeliveryReports(storage: IssuanceStore & AuditStore, device: Device, reports: readonly DeliveryReport[], read: readonly Awaited<ReturnType<typeof statusOf>>[], now: Date): Promise<void> {
  for (const [i, r] of reports.entries()) {
    const installed = read[i]!.installed;
    if (r.state === 'installed' && installed) await revokeSuperseded(storage, installed, now, `device:${device.id}`);
  }
}
