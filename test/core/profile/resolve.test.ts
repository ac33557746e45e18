import { describe, expect, it } from 'vitest';
import type { Device, Profile, User } from '../../../src/core/model.js';
import { canonicalJson, identityRequest, requestDigest, resolveRequest } from '../../../src/core/profile/resolve.js';
import { spec } from '../helpers.js';

const user: User = {
  id: '11111111-1111-4111-8111-111111111111',
  userPrincipalName: 'alice@contoso.com',
  email: 'alice@contoso.com',
  displayName: 'Doe, Jane',
  attributes: {},
  createdAt: '',
  enabled: true,
  disabledAt: null,
  source: 'local',
  externalId: null,
};
const device: Device = {
  id: '22222222-2222-4222-8222-222222222222',
  name: 'LAPTOP-1',
  platform: 'windows',
  serialNumber: null,
  userId: user.id,
  attributes: {},
  reported: { name: null, serialNumber: null, conflicts: [], updatedAt: null },
  createdAt: '',
  blockedAt: null,
  retiredAt: null,
  retiringSince: null,
};
const profile = (input: Record<string, unknown>): Profile => ({
  ...spec(input),
  id: '33333333-3333-4333-8333-333333333333',
  version: 3,
  createdAt: '',
  updatedAt: '',
});

describe('resolveRequest', () => {
  it('fills subject RDN values and SANs, keeping directory commas as data', () => {
    const p = profile({
      scope: 'user',
      subjectName: 'CN={{DisplayName}},STREET=Main,T=Eng,O=Contoso',
      subjectAlternativeNames: [
        { type: 'upn', value: '{{UserPrincipalName}}' },
        { type: 'dns', value: '{{DeviceName}}.contoso.com' },
      ],
    });
    const target = { kind: 'user' as const, userId: user.id, deviceId: device.id };
    const r = resolveRequest(p, target, { user, device });
    expect(r).toEqual({
      ok: true,
      resolved: {
        profileId: p.id,
        profileVersion: 3,
        target,
        subject: [
          { type: 'CN', value: 'Doe, Jane' },
          { type: '2.5.4.9', value: 'Main' },
          { type: '2.5.4.12', value: 'Eng' },
          { type: 'O', value: 'Contoso' },
        ],
        subjectAlternativeNames: [
          { type: 'upn', value: 'alice@contoso.com' },
          { type: 'dns', value: 'LAPTOP-1.contoso.com' },
        ],
        extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'],
        keyUsage: ['digitalSignature', 'keyEncipherment'],
        keySize: 2048,
        hashAlgorithm: 'SHA-256',
        validityDays: 365,
      },
    });
  });

  it('resolves a template parsed before (kept per template text, issue 13) to each target\'s own values, and still refuses a template that does not parse', () => {
    const p = profile({ scope: 'device', subjectName: 'CN={{DeviceName}},O=Contoso' });
    const a = resolveRequest(p, { kind: 'device', deviceId: device.id }, { user, device });
    const other = { ...device, id: '44444444-4444-4444-8444-444444444444', name: 'LAPTOP-2' };
    const b = resolveRequest(p, { kind: 'device', deviceId: other.id }, { user, device: other });
    expect(a.ok && a.resolved.subject).toEqual([{ type: 'CN', value: 'LAPTOP-1' }, { type: 'O', value: 'Contoso' }]);
    expect(b.ok && b.resolved.subject).toEqual([{ type: 'CN', value: 'LAPTOP-2' }, { type: 'O', value: 'Contoso' }]);
    // The resolved subject is the caller's own: changing it does not change the next resolution.
    if (a.ok) a.resolved.subject[0]!.value = 'changed';
    const c = resolveRequest(p, { kind: 'device', deviceId: device.id }, { user, device });
    expect(c.ok && c.resolved.subject[0]).toEqual({ type: 'CN', value: 'LAPTOP-1' });
    const bad = { ...p, subjectName: 'CN=a,,O=b' };
    for (let i = 0; i < 2; i++) expect(() => resolveRequest(bad, { kind: 'device', deviceId: device.id }, { user, device })).toThrow(/empty/);
  });

  it('reports the missing variable and the field it is in', () => {
    const target = { kind: 'device' as const, deviceId: device.id };
    expect(resolveRequest(profile({ subjectName: 'CN={{SerialNumber}}' }), target, { user, device })).toEqual({
      ok: false,
      error: { code: 'ATTRIBUTE_MISSING', variable: 'SerialNumber', field: 'subjectName' },
    });
    const p = profile({ subjectAlternativeNames: [{ type: 'dns', value: 'a' }, { type: 'email', value: '{{EmailAddress}}' }] });
    expect(resolveRequest(p, target, { user: null, device })).toEqual({
      ok: false,
      error: { code: 'ATTRIBUTE_MISSING', variable: 'EmailAddress', field: 'subjectAlternativeNames.1' },
    });
  });
});

describe('requestDigest', () => {
  it('is 16 bytes of base64, independent of key order, sensitive to every value', () => {
    const a = identityRequest(device);
    const reordered = Object.fromEntries(Object.entries(a).reverse()) as typeof a;
    expect(requestDigest(a)).toBe(requestDigest(reordered));
    expect(Buffer.from(requestDigest(a), 'base64')).toHaveLength(16);
    expect(requestDigest({ ...a, validityDays: 366 })).not.toBe(requestDigest(a));
    expect(requestDigest({ ...a, subject: [{ type: 'CN', value: 'other' }] })).not.toBe(requestDigest(a));
  });

  it('canonicalJson sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });
});

describe('identityRequest', () => {
  it('is the fixed identity shape for the device', () => {
    expect(identityRequest(device)).toEqual({
      profileId: null,
      profileVersion: null,
      target: { kind: 'device', deviceId: device.id },
      subject: [
        { type: 'CN', value: device.id },
        { type: 'O', value: 'mdm-gateway device identity' },
      ],
      subjectAlternativeNames: [],
      extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'],
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      keySize: 2048,
      hashAlgorithm: 'SHA-256',
      validityDays: 365,
    });
  });
});

describe('resolveRequest: strong certificate mapping (ObjectSid)', () => {
  const USER_SID = 'S-1-5-21-1004336348-1177238915-682003330-1103';
  const DEVICE_SID = 'S-1-5-21-1004336348-1177238915-682003330-2201';
  const dir = { user: { ...user, attributes: { ObjectSid: USER_SID } }, device: { ...device, attributes: { ObjectSid: DEVICE_SID } } };
  const userTarget = { kind: 'user' as const, userId: user.id, deviceId: device.id };
  const deviceTarget = { kind: 'device' as const, deviceId: device.id };
  const sidProfile = (scope: 'user' | 'device', extra: Record<string, unknown> = {}) =>
    profile({ scope, subjectName: 'CN=x', subjectAlternativeNames: [{ type: 'sid-url' }], sidExtension: true, ...extra });

  it("a user-scope profile takes the user's SID; sid-url becomes a plain uri SAN", () => {
    const r = resolveRequest(sidProfile('user'), userTarget, dir);
    expect(r.ok && r.resolved.subjectAlternativeNames).toEqual([{ type: 'uri', value: `tag:microsoft.com,2022-09-14:sid:${USER_SID}` }]);
    expect(r.ok && r.resolved.securityIdentifier).toBe(USER_SID);
  });

  it("a device-scope profile takes the device's SID, never the primary user's", () => {
    const r = resolveRequest(sidProfile('device'), deviceTarget, dir);
    expect(r.ok && r.resolved.subjectAlternativeNames).toEqual([{ type: 'uri', value: `tag:microsoft.com,2022-09-14:sid:${DEVICE_SID}` }]);
    expect(r.ok && r.resolved.securityIdentifier).toBe(DEVICE_SID);
  });

  it('the SID is bound by the digest: a changed ObjectSid is a different request', () => {
    const a = resolveRequest(sidProfile('user', { subjectAlternativeNames: [] }), userTarget, dir);
    const b = resolveRequest(sidProfile('user', { subjectAlternativeNames: [] }), userTarget, { ...dir, user: { ...user, attributes: { ObjectSid: `${USER_SID}0` } } });
    expect(a.ok && b.ok && requestDigest(a.resolved) !== requestDigest(b.resolved)).toBe(true);
  });

  it('without sidExtension the resolved request has no securityIdentifier (older digests stay the same)', () => {
    const r = resolveRequest(profile({ scope: 'user', subjectName: 'CN=x' }), userTarget, dir);
    expect(r.ok && Object.hasOwn(r.resolved, 'securityIdentifier')).toBe(false);
  });

  it('a missing or malformed SID is ATTRIBUTE_MISSING naming the attribute and the field that needs it', () => {
    const noSid = { user, device };
    expect(resolveRequest(sidProfile('user'), userTarget, noSid)).toEqual({ ok: false, error: { code: 'ATTRIBUTE_MISSING', variable: 'user.ObjectSid', field: 'subjectAlternativeNames.0' } });
    expect(resolveRequest(sidProfile('device', { subjectAlternativeNames: [] }), deviceTarget, noSid)).toEqual({ ok: false, error: { code: 'ATTRIBUTE_MISSING', variable: 'device.ObjectSid', field: 'sidExtension' } });
    for (const bad of ['S-1-5', 'S-1-5-21-x', 's-1-5-21-1', 'S-1-5-21-1 ', `S-1-5${'-1'.repeat(16)}`]) {
      const r = resolveRequest(sidProfile('user'), userTarget, { user: { ...user, attributes: { ObjectSid: bad } }, device });
      if (bad.trim() === 'S-1-5-21-1') {
        expect(r.ok, bad).toBe(true); // surrounding blanks are trimmed
        continue;
      }
      expect(r.ok, bad).toBe(false);
      expect(!r.ok && r.error.invalid, bad).toMatch(/is not a SID/);
    }
  });
});
