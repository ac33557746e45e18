import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanReported, flagCollisionsWithAdminValue, recordReportedValues } from '../../src/core/reported-values.js';
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';
import type { Storage } from '../../src/core/storage/storage.js';

// Reported values against a real (in-memory SQLite) storage: what is stored,
// which collisions are flagged, and what the audit log says.

let s: Storage;
beforeEach(async () => {
  s = await openSqliteStorage(':memory:');
});
afterEach(async () => {
  await s.close();
});

describe('cleanReported', () => {
  it('trims, drops control characters, clips, and makes empty null', () => {
    expect(cleanReported('name', '  Ada\u0000 Laptop\n ')).toBe('Ada Laptop');
    expect(cleanReported('name', ' \t ')).toBeNull();
    expect(cleanReported('name', undefined)).toBeNull();
    expect(cleanReported('serialNumber', 'S'.repeat(300))).toHaveLength(128);
    expect(cleanReported('name', 'N'.repeat(300))).toHaveLength(256);
  });
});

describe('recordReportedValues', () => {
  it("stores the report beside the admin's values and flags a value another device holds", async () => {
    const owner = await s.createDevice({ name: 'CEO-LAPTOP', platform: 'windows', serialNumber: 'CEO-SN' });
    const d = await s.createDevice({ name: null, platform: 'windows' });
    const stored = await recordReportedValues(s, d, { name: ' ceo-laptop ', serialNumber: 'OWN-SN' }, `device:${d.id}`);
    expect(stored).toMatchObject({ name: null, serialNumber: null, reported: { name: 'ceo-laptop', serialNumber: 'OWN-SN', conflicts: ['name'] } });
    expect(await s.getDevice(d.id)).toEqual(stored);
    const conflict = await s.listAudit({ type: 'device.reported.conflict' });
    expect(conflict).toEqual([expect.objectContaining({ reasonCode: 'REPORTED_VALUE_CONFLICT', actor: `device:${d.id}`, details: { deviceId: d.id, field: 'name', value: 'ceo-laptop', otherDevices: [owner.id] } })]);
    // First come keeps its value: the owner is not flagged.
    expect((await s.getDevice(owner.id))!.reported.conflicts).toEqual([]);
  });

  it('leaves fields the report does not carry, and unflags a value once the device reports another', async () => {
    await s.createDevice({ name: 'taken', platform: 'ios' });
    const d = await s.createDevice({ name: null, platform: 'ios' });
    const a = await recordReportedValues(s, d, { name: 'taken', serialNumber: 'S1' }, 'device');
    expect(a.reported.conflicts).toEqual(['name']);
    const b = await recordReportedValues(s, a, { name: 'free' }, 'device');
    expect(b.reported).toMatchObject({ name: 'free', serialNumber: 'S1', conflicts: [] });
    // A repeated report changes nothing and writes nothing.
    const audits = (await s.listAudit()).length;
    expect(await recordReportedValues(s, b, { name: 'free' }, 'device')).toEqual(b);
    expect(await s.listAudit()).toHaveLength(audits);
  });

  it('a clone that claims a reported value is flagged, and does not get the first device flagged when it reports again', async () => {
    const first = await recordReportedValues(s, await s.createDevice({ name: null, platform: 'ios' }), { name: 'Ada iPhone', serialNumber: 'F2L' }, 'device');
    const clone = await recordReportedValues(s, await s.createDevice({ name: null, platform: 'ios' }), { name: 'ada iphone', serialNumber: 'f2l' }, 'device');
    expect(clone.reported.conflicts).toEqual(['name', 'serialNumber']);
    const again = await recordReportedValues(s, first, { name: 'Ada iPhone', serialNumber: 'F2L-NEW' }, 'device');
    expect(again.reported).toMatchObject({ serialNumber: 'F2L-NEW', conflicts: [] });
    // The clone keeps reporting the name: still flagged, and audited only once for it.
    expect((await recordReportedValues(s, clone, { name: 'ada iphone', serialNumber: 'CLONE-OWN' }, 'device')).reported.conflicts).toEqual(['name']);
    const forClone = (await s.listAudit({ type: 'device.reported.conflict' })).filter((e) => e.details.deviceId === clone.id);
    expect(forClone.map((e) => e.details.field)).toEqual(['name', 'serialNumber']);
  });

  it("a device's own admin value does not count as a collision", async () => {
    const d = await s.createDevice({ name: 'PC-1', platform: 'windows', serialNumber: 'SN-1' });
    expect((await recordReportedValues(s, d, { name: 'pc-1', serialNumber: 'SN-1' }, 'device')).reported.conflicts).toEqual([]);
  });
});

describe('flagCollisionsWithAdminValue', () => {
  it('flags another device that reported the value the admin now gives a device', async () => {
    const reporter = await recordReportedValues(s, await s.createDevice({ name: null, platform: 'android' }), { name: 'Kiosk 7' }, 'device');
    expect(reporter.reported.conflicts).toEqual([]);
    const named = await s.createDevice({ name: 'KIOSK 7', platform: 'android' });
    await flagCollisionsWithAdminValue(s, named.id, 'name', named.name, 'admin');
    expect((await s.getDevice(reporter.id))!.reported).toMatchObject({ name: 'Kiosk 7', conflicts: ['name'], updatedAt: reporter.reported.updatedAt });
    expect((await s.listAudit({ type: 'device.reported.conflict' })).at(-1)).toMatchObject({ actor: 'admin', details: { deviceId: reporter.id, field: 'name', otherDevices: [named.id] } });
    // The admin's device itself is never flagged by its own value; a second call adds nothing.
    await flagCollisionsWithAdminValue(s, named.id, 'name', named.name, 'admin');
    expect(await s.listAudit({ type: 'device.reported.conflict' })).toHaveLength(1);
  });
});
