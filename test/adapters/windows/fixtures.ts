import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ReadyDelivery } from '../../../src/core/adapter.js';
import type { Device, Profile, ProfileSpec, User } from '../../../src/core/model.js';
import { profileSpecSchema } from '../../../src/core/profile/profile-schema.js';
import { resolveRequest } from '../../../src/core/profile/resolve.js';

// Fixed inputs for the golden files: a user, a device, profiles, and a fixed
// trusted root (test/golden/windows/fixture-root.pem) so the thumbprint and the
// EncodedCertificate are stable. The challenge is a placeholder.

export const GOLDEN_DIR = path.join(import.meta.dirname, '../../golden/windows');
export const ROOT_PEM = readFileSync(path.join(GOLDEN_DIR, 'fixture-root.pem'), 'utf8');
export const CHALLENGE = 'CHALLENGE-PLACEHOLDER';
export const SCEP_URL = 'https://mdm.contoso.com/certsrv/mscep/mscep.dll';

export const user: User = {
  id: '11111111-1111-4111-8111-111111111111',
  userPrincipalName: 'ada@contoso.com',
  email: 'ada.lovelace@contoso.com',
  displayName: 'Lovelace, Ada',
  attributes: {},
  createdAt: '2030-01-01T00:00:00.000Z',
  enabled: true,
  disabledAt: null,
  source: 'local',
  externalId: null,
};

export const device: Device = {
  id: '22222222-2222-4222-8222-222222222222',
  name: 'LAPTOP-ADA',
  platform: 'windows',
  serialNumber: 'SN-42',
  userId: user.id,
  attributes: {},
  reported: { name: null, serialNumber: null, conflicts: [], updatedAt: null },
  createdAt: '2030-01-01T00:00:00.000Z',
  blockedAt: null,
  retiredAt: null,
  retiringSince: null,
};

export function delivery(id: string, spec: Partial<ProfileSpec> & Pick<ProfileSpec, 'name' | 'scope' | 'subjectName'>, version = 1): ReadyDelivery {
  const parsed = profileSpecSchema.parse(spec);
  const profile: Profile = { ...parsed, id, version, createdAt: '2030-01-01T00:00:00.000Z', updatedAt: '2030-01-01T00:00:00.000Z' };
  const target = profile.scope === 'user' ? ({ kind: 'user', userId: user.id, deviceId: device.id } as const) : ({ kind: 'device', deviceId: device.id } as const);
  const r = resolveRequest(profile, target, { user, device });
  if (!r.ok) throw new Error('fixture does not resolve');
  return { profile, ok: true, resolved: r.resolved, challenge: CHALLENGE, challengeExpiresAt: new Date('2030-01-02T00:00:00Z'), scepUrl: SCEP_URL, trustedRootPem: ROOT_PEM };
}

/** The representative profiles the golden files cover. */
export const CASES = {
  'device-scope': {
    form: 'modern',
    d: delivery('aaaaaaaa-0000-4000-8000-000000000001', {
      name: 'device wifi',
      scope: 'device',
      subjectName: 'CN={{DeviceName}},OU=Devices,O=Contoso',
      subjectAlternativeNames: [{ type: 'dns', value: '{{DeviceName}}.corp.contoso.com' }],
      trustedRootCertificate: ROOT_PEM,
    }),
  },
  'user-scope-sans': {
    form: 'modern',
    d: delivery('aaaaaaaa-0000-4000-8000-000000000002', {
      name: 'user vpn',
      scope: 'user',
      subjectName: 'CN={{DisplayName}},ST=Bavaria,O=Contoso',
      subjectAlternativeNames: [
        { type: 'upn', value: '{{UserPrincipalName}}' },
        { type: 'email', value: '{{EmailAddress}}' },
        { type: 'uri', value: 'https://id.contoso.com/users/{{UserId}}' },
      ],
      extendedKeyUsages: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.4.1.311.20.2.2'],
      keyUsage: ['digitalSignature'],
      hashAlgorithm: 'SHA-384',
      validityDays: 90,
      trustedRootCertificate: ROOT_PEM,
    }),
  },
  'tpm-required': {
    form: 'modern',
    d: delivery('aaaaaaaa-0000-4000-8000-000000000003', {
      name: 'tpm device',
      scope: 'device',
      subjectName: 'CN={{DeviceId}}',
      keyProtection: 'tpmRequired',
      keySize: 4096,
      keyUsage: ['digitalSignature', 'keyEncipherment', 'nonRepudiation'],
      requireApproval: true,
      trustedRootCertificate: ROOT_PEM,
    }),
  },
  'windows81-certificatestore': {
    form: 'legacy',
    d: delivery('aaaaaaaa-0000-4000-8000-000000000004', {
      name: 'legacy user cert',
      scope: 'user',
      subjectName: 'CN={{UserPrincipalName}},O=Contoso',
      subjectAlternativeNames: [{ type: 'upn', value: '{{UserPrincipalName}}' }],
      hashAlgorithm: 'SHA-1',
      keyProtection: 'tpmIfPresent',
      trustedRootCertificate: ROOT_PEM,
    }),
  },
} as const;
