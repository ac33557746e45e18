import { X509Certificate } from 'node:crypto';
import type { DeviceOutcome } from './devices.js';
import type { AdminClient } from './environment.js';

// What each device got, read from the gateway's own record of the
// certificate the device reports (GET /certificates), checked against the
// certificate the device holds when its simulator keeps it.

export interface DemoRow {
  platform: string;
  deviceId: string;
  subject: string;
  san: string;
  issuer: string;
  notAfter: string;
  thumbprint: string;
  serialNumber: string;
  transactionId: string;
}

interface CertificateRecord {
  serialNumber: string;
  thumbprint: string;
  transactionId: string | null;
  pem: string;
}

// Node prints a name one RDN a line.
const oneLine = (name: string) => name.split('\n').join(', ');

export async function rowFor(admin: AdminClient, profileId: string, d: DeviceOutcome): Promise<DemoRow> {
  const records = (await admin.ok('GET', `/certificates?deviceId=${d.deviceId}&profileId=${profileId}`)) as CertificateRecord[];
  const record = records.find((r) => r.thumbprint.toUpperCase() === d.thumbprint.toUpperCase());
  if (!record) throw new Error(`the gateway has no record of the certificate the device reports (thumbprint ${d.thumbprint})`);
  const cert = new X509Certificate(record.pem);
  // The device's report reached the gateway: the delivery is installed with this very certificate.
  const deliveries = (await admin.ok('GET', `/devices/${d.deviceId}/deliveries`)) as { profileId: string; state: string; certificateSerial: string | null }[];
  const delivery = deliveries.find((x) => x.profileId === profileId);
  if (delivery?.state !== 'installed' || delivery.certificateSerial !== record.serialNumber) {
    throw new Error(`the gateway shows the delivery ${delivery ? `${delivery.state} with certificate ${delivery.certificateSerial ?? 'none'}` : 'missing'}, not installed with serial ${record.serialNumber}`);
  }
  if (d.certificate && !cert.raw.equals(Buffer.from(d.certificate))) throw new Error(`the device holds another certificate than the gateway recorded (serial ${record.serialNumber})`);
  return {
    platform: d.platform,
    deviceId: d.deviceId,
    subject: oneLine(cert.subject),
    san: cert.subjectAltName ?? '',
    issuer: oneLine(cert.issuer),
    notAfter: new Date(cert.validTo).toISOString(),
    thumbprint: record.thumbprint,
    serialNumber: record.serialNumber,
    transactionId: record.transactionId ?? '',
  };
}

const COLUMNS: [keyof DemoRow, string][] = [
  ['platform', 'PLATFORM'],
  ['subject', 'SUBJECT'],
  ['san', 'SAN'],
  ['issuer', 'ISSUER'],
  ['notAfter', 'EXPIRES'],
  ['thumbprint', 'THUMBPRINT (SHA-1)'],
  ['transactionId', 'TRANSACTION ID'],
];

/** A plain-text table, one row per device. */
export function formatTable(rows: DemoRow[]): string {
  const widths = COLUMNS.map(([k, h]) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(COLUMNS.map(([, h]) => h)), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(COLUMNS.map(([k]) => r[k])))].join('\n') + '\n';
}
