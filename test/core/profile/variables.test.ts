import { describe, expect, it } from 'vitest';
import type { Device, User } from '../../../src/core/model.js';
import { fillTemplate, isKnownVariable, templateVariables } from '../../../src/core/profile/variables.js';

const user: User = {
  id: '11111111-1111-4111-8111-111111111111',
  userPrincipalName: 'alice@contoso.com',
  email: 'alice.smith@contoso.com',
  displayName: 'Smith, Alice',
  attributes: { OnPremisesDistinguishedName: 'CN=Alice,OU=Staff,DC=contoso,DC=com', employeeId: 'E-42' },
  createdAt: '2025-01-01T00:00:00.000Z',
  enabled: true,
  disabledAt: null,
  source: 'local',
  externalId: null,
};
const device: Device = {
  id: '22222222-2222-4222-8222-222222222222',
  name: 'LAPTOP-1',
  platform: 'windows',
  serialNumber: 'SN123',
  userId: user.id,
  attributes: { assetTag: 'A-7' },
  reported: { name: null, serialNumber: null, conflicts: [], updatedAt: null },
  createdAt: '2025-01-01T00:00:00.000Z',
  blockedAt: null,
  retiredAt: null,
  retiringSince: null,
};

describe('templateVariables', () => {
  it('lists each variable once, in order, trimming inner whitespace', () => {
    expect(templateVariables('CN={{ DeviceName }},OU={{user.dept}},O={{DeviceName}}')).toEqual(['DeviceName', 'user.dept']);
    expect(templateVariables('no templates')).toEqual([]);
  });
});

describe('isKnownVariable', () => {
  it('knows the built-ins and well-formed custom attributes only', () => {
    for (const v of ['UserPrincipalName', 'EmailAddress', 'UserName', 'DisplayName', 'DeviceName', 'DeviceId', 'SerialNumber', 'Platform', 'OnPremisesDistinguishedName', 'UserId', 'user.employeeId', 'device.asset-tag_2']) {
      expect(isKnownVariable(v), v).toBe(true);
    }
    for (const v of ['devicename', 'Foo', 'user.', 'user.1abc', 'group.x', 'device.a b', `user.${'a'.repeat(65)}`, 'toString', 'constructor']) {
      expect(isKnownVariable(v), v).toBe(false);
    }
  });
});

describe('fillTemplate', () => {
  const ctx = { user, device };
  it.each([
    ['{{UserPrincipalName}}', 'alice@contoso.com'],
    ['{{EmailAddress}}', 'alice.smith@contoso.com'],
    ['{{UserName}}', 'alice'],
    ['{{DisplayName}}', 'Smith, Alice'],
    ['{{DeviceName}}', 'LAPTOP-1'],
    ['{{DeviceId}}', device.id],
    ['{{SerialNumber}}', 'SN123'],
    ['{{Platform}}', 'windows'],
    ['{{OnPremisesDistinguishedName}}', 'CN=Alice,OU=Staff,DC=contoso,DC=com'],
    ['{{UserId}}', user.id],
    ['{{user.employeeId}}', 'E-42'],
    ['{{device.assetTag}}', 'A-7'],
    ['{{DeviceName}}.contoso.com', 'LAPTOP-1.contoso.com'],
  ])('%s -> %s', (template, value) => {
    expect(fillTemplate(template, ctx)).toEqual({ ok: true, value });
  });

  it('prefers the UserName attribute over the UPN local part', () => {
    const u = { ...user, attributes: { UserName: 'asmith' } };
    expect(fillTemplate('{{UserName}}', { user: u, device })).toEqual({ ok: true, value: 'asmith' });
  });

  it('reports the first missing variable instead of throwing', () => {
    expect(fillTemplate('{{DeviceName}}-{{SerialNumber}}', { user, device: { ...device, serialNumber: null } })).toEqual({ ok: false, missing: 'SerialNumber' });
    expect(fillTemplate('{{UserPrincipalName}}', { user: null, device })).toEqual({ ok: false, missing: 'UserPrincipalName' });
    expect(fillTemplate('{{DeviceName}}', { user, device: null })).toEqual({ ok: false, missing: 'DeviceName' });
    expect(fillTemplate('{{user.nope}}', ctx)).toEqual({ ok: false, missing: 'user.nope' });
    expect(fillTemplate('{{user.toString}}', ctx)).toEqual({ ok: false, missing: 'user.toString' });
    expect(fillTemplate('{{OnPremisesDistinguishedName}}', { user: { ...user, attributes: {} }, device })).toEqual({
      ok: false,
      missing: 'OnPremisesDistinguishedName',
    });
  });

  it('treats an empty attribute value as missing', () => {
    expect(fillTemplate('{{EmailAddress}}', { user: { ...user, email: '' }, device })).toEqual({ ok: false, missing: 'EmailAddress' });
  });
});

describe('device-reported values ({{DeviceName}}, {{SerialNumber}})', () => {
  const reported = (r: Partial<Device['reported']>) => ({ name: 'Ada Laptop', serialNumber: 'R-SN', conflicts: [], updatedAt: '2026-01-01T00:00:00.000Z', ...r });
  const fill = (template: string, d: Device) => fillTemplate(template, { user, device: d });

  it("uses the admin's values over the device's report", () => {
    const d = { ...device, reported: reported({}) };
    expect(fill('{{DeviceName}}/{{SerialNumber}}', d)).toEqual({ ok: true, value: 'LAPTOP-1/SN123' });
  });

  it('falls back on the reported value when the admin set none', () => {
    const d = { ...device, name: null, serialNumber: null, reported: reported({}) };
    expect(fill('{{DeviceName}}/{{SerialNumber}}', d)).toEqual({ ok: true, value: 'Ada Laptop/R-SN' });
  });

  it('never uses a reported value flagged as colliding with another device: missing, and says why', () => {
    const d = { ...device, name: null, serialNumber: null, reported: reported({ conflicts: ['name'] }) };
    expect(fill('CN={{DeviceName}}', d)).toEqual({ ok: false, missing: 'DeviceName', reportedConflict: true });
    expect(fill('{{SerialNumber}}', d)).toEqual({ ok: true, value: 'R-SN' });
    const both = { ...d, reported: reported({ conflicts: ['name', 'serialNumber'] }) };
    expect(fill('{{SerialNumber}}', both)).toEqual({ ok: false, missing: 'SerialNumber', reportedConflict: true });
    // The admin's value is used even when the report collides.
    expect(fill('{{DeviceName}}', { ...both, name: 'LAPTOP-9' })).toEqual({ ok: true, value: 'LAPTOP-9' });
  });

  it('a plain missing value (no admin value, nothing reported) is not called a conflict', () => {
    const d = { ...device, name: null, serialNumber: null, reported: reported({ name: null, serialNumber: null }) };
    expect(fill('{{DeviceName}}', d)).toEqual({ ok: false, missing: 'DeviceName' });
  });
});

describe('ObjectSid', () => {
  it("fills {{ObjectSid}} from the synced user's ObjectSid attribute, missing when there is none", () => {
    expect(isKnownVariable('ObjectSid')).toBe(true);
    const synced = { ...user, attributes: { ObjectSid: 'S-1-5-21-1-2-3-1104' } };
    expect(fillTemplate('tag:microsoft.com,2022-09-14:sid:{{ObjectSid}}', { user: synced, device })).toEqual({ ok: true, value: 'tag:microsoft.com,2022-09-14:sid:S-1-5-21-1-2-3-1104' });
    expect(fillTemplate('{{ObjectSid}}', { user: { ...user, attributes: {} }, device })).toEqual({ ok: false, missing: 'ObjectSid' });
  });
});
