import type { Device, ReportedField } from './model.js';
import { REPORTED_FIELDS } from './model.js';
import type { DirectoryStore, AuditStore } from './storage/storage.js';

// What a device says about itself (its name, its serial number) is a claim,
// not a fact: a device can report another device's name to get certificates
// with that CN, which a RADIUS or VPN server may map to the other device. So
// reported values are stored beside the admin's values, never over them, and
// a reported value that equals another device's name or serial (the admin's
// or the one it reported, ignoring case and blanks) is flagged as a conflict:
// templates never use a flagged value (policy/variables.ts), the admin API
// shows the flag, and the audit log says which devices collide.
//
// First come keeps its value: the device that reports a name already taken
// is the one flagged, so a clone cannot take a name away from the device that
// had it. An admin who sets a name or serial flags any other device that
// reported the same value (flagCollisionsWithAdminValue).

/** A report from a device; undefined leaves that field as last reported. */
export type ReportedValues = Partial<Record<ReportedField, string | null | undefined>>;

const MAX_LENGTH: Record<ReportedField, number> = { name: 256, serialNumber: 128 };

/** Trimmed, control characters dropped, clipped; empty is null. */
export function cleanReported(field: ReportedField, value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  // eslint-disable-next-line no-control-regex
  const v = value.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, MAX_LENGTH[field]).trim();
  return v === '' ? null : v;
}

const same = (a: string | null, b: string) => a !== null && a.trim().toLowerCase() === b.trim().toLowerCase();

/**
 * Ids of the other devices that hold `value` for `field`: as the admin's value,
 * or as a reported value not itself flagged (a clone's claim does not take the
 * value away from the device that had it first).
 */
async function holders(storage: DirectoryStore & AuditStore, deviceId: string, field: ReportedField, value: string): Promise<string[]> {
  const found = await storage.findDevicesByIdentifier(field, value);
  return found.filter((d) => d.id !== deviceId && (same(d[field], value) || !d.reported.conflicts.includes(field))).map((d) => d.id);
}

/**
 * Stores what the device reported and which of those values collide with
 * another device; audits a change and every conflict. Returns the device as stored.
 */
export async function recordReportedValues(storage: DirectoryStore & AuditStore, device: Device, values: ReportedValues, actor: string): Promise<Device> {
  const next = { name: device.reported.name, serialNumber: device.reported.serialNumber };
  for (const f of REPORTED_FIELDS) if (values[f] !== undefined) next[f] = cleanReported(f, values[f]);
  const conflicts: ReportedField[] = [];
  const collisions: Partial<Record<ReportedField, string[]>> = {};
  for (const f of REPORTED_FIELDS) {
    const v = next[f];
    if (v === null) continue;
    const others = await holders(storage, device.id, f, v);
    if (others.length > 0) {
      conflicts.push(f);
      collisions[f] = others;
    }
  }
  const unchanged =
    next.name === device.reported.name &&
    next.serialNumber === device.reported.serialNumber &&
    conflicts.join() === device.reported.conflicts.join() &&
    device.reported.updatedAt !== null;
  if (unchanged) return device;
  const stored = (await storage.setDeviceReported(device.id, { ...next, conflicts, updatedAt: new Date().toISOString() })) ?? device;
  if (next.name !== device.reported.name || next.serialNumber !== device.reported.serialNumber) {
    await audit(storage, actor, 'device.reported.changed', null, { deviceId: device.id, name: next.name, serialNumber: next.serialNumber });
  }
  // Audited when new: a device that keeps reporting the same flagged value is not audited again.
  for (const f of conflicts.filter((f) => !device.reported.conflicts.includes(f) || next[f] !== device.reported[f])) {
    await audit(storage, actor, 'device.reported.conflict', 'REPORTED_VALUE_CONFLICT', { deviceId: device.id, field: f, value: next[f], otherDevices: collisions[f] });
  }
  return stored;
}

/**
 * After an admin gave `deviceId` the name or serial `value`: any other device
 * that reported the same value gets it flagged, so it stops reaching certificates.
 */
export async function flagCollisionsWithAdminValue(storage: DirectoryStore & AuditStore, deviceId: string, field: ReportedField, value: string | null, actor: string): Promise<void> {
  if (value === null || value.trim() === '') return;
  for (const other of await storage.findDevicesByIdentifier(field, value)) {
    const reported = other.reported[field];
    if (other.id === deviceId || !same(reported, value) || other.reported.conflicts.includes(field)) continue;
    await storage.setDeviceReported(other.id, { ...other.reported, conflicts: [...other.reported.conflicts, field] });
    await audit(storage, actor, 'device.reported.conflict', 'REPORTED_VALUE_CONFLICT', { deviceId: other.id, field, value: reported!, otherDevices: [deviceId] });
  }
}

async function audit(storage: DirectoryStore & AuditStore, actor: string, type: string, reasonCode: string | null, details: Record<string, unknown>): Promise<void> {
  await storage.appendAudit({ transactionId: null, type, reasonCode, actor, details });
}
