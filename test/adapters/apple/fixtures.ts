import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReadyDelivery } from '../../../src/core/adapter.js';
import type { Device, Profile, ResolvedRequest } from '../../../src/core/model.js';
import { profileSpec } from '../../helpers/profile-spec.js';

// Fixed devices and deliveries for the pure rendering tests and golden files.

export const GOLDEN_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../golden/apple');
export const ROOT_PEM = readFileSync(path.join(GOLDEN_DIR, 'root.pem'), 'utf8');

export const iphone: Device = {
  id: '6f1c7f0e-3c55-4a8e-9a57-3d1f2b9c0a11',
  name: 'Lin iPhone',
  platform: 'ios',
  serialNumber: 'F2LXK0QJHG7F',
  userId: '0b7e2c1d-9f4a-4c3b-8e6d-5a1f2e3d4c5b',
  attributes: {},
  reported: { name: null, serialNumber: null, conflicts: [], updatedAt: null },
  createdAt: '2030-01-01T00:00:00.000Z',
  blockedAt: null,
  retiredAt: null,
  retiringSince: null,
};
export const mac: Device = { ...iphone, id: '9a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d', name: 'Lin MacBook', platform: 'macos', serialNumber: 'C02XL0AAJGH5' };

function profile(p: Partial<Profile>): Profile {
  return {
    ...profileSpec({ name: 'Device Wi-Fi', subjectName: 'CN={{DeviceName}},O=Contoso' }),
    id: 'c0ffee00-0000-4000-8000-000000000001',
    version: 1,
    createdAt: '2030-01-01T00:00:00.000Z',
    updatedAt: '2030-01-01T00:00:00.000Z',
    ...p,
  };
}

function delivery(p: Profile, resolved: Omit<ResolvedRequest, 'profileId' | 'profileVersion' | 'keySize' | 'hashAlgorithm' | 'validityDays' | 'extendedKeyUsages' | 'keyUsage'>, over: Partial<ReadyDelivery> = {}): ReadyDelivery {
  return {
    profile: p,
    ok: true,
    resolved: {
      profileId: p.id,
      profileVersion: p.version,
      keySize: p.keySize,
      hashAlgorithm: p.hashAlgorithm,
      validityDays: p.validityDays,
      extendedKeyUsages: p.extendedKeyUsages,
      keyUsage: p.keyUsage,
      ...resolved,
    },
    challenge: 'AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4_QA',
    challengeExpiresAt: new Date('2030-01-01T01:00:00.000Z'),
    scepUrl: 'https://gw.contoso.com/certsrv/mscep/mscep.dll',
    trustedRootPem: ROOT_PEM,
    ...over,
  };
}

/** Representative profiles, each rendered to test/golden/apple/<name>.plist. */
export const GOLDEN_CASES: { name: string; device: Device; delivery: ReadyDelivery }[] = [
  {
    name: 'device-scope-ios',
    device: iphone,
    delivery: delivery(profile({}), {
      target: { kind: 'device', deviceId: iphone.id },
      subject: [
        { type: 'CN', value: 'Lin iPhone' },
        { type: 'O', value: 'Contoso' },
      ],
      subjectAlternativeNames: [{ type: 'dns', value: 'lin-iphone.corp.contoso.com' }],
    }),
  },
  {
    name: 'user-scope-macos-upn-email',
    device: mac,
    delivery: delivery(
      profile({
        id: 'c0ffee00-0000-4000-8000-000000000002',
        version: 3,
        name: 'User VPN',
        scope: 'user',
        subjectName: 'CN={{UserPrincipalName}},E={{EmailAddress}},OU=Staff,O=Contoso',
        keyUsage: ['digitalSignature'],
      }),
      {
        target: { kind: 'user', userId: iphone.userId!, deviceId: mac.id },
        subject: [
          { type: 'CN', value: 'lin@contoso.com' },
          { type: 'E', value: 'Lin.Chen@contoso.com' },
          { type: 'OU', value: 'Staff' },
          { type: 'O', value: 'Contoso' },
        ],
        subjectAlternativeNames: [
          { type: 'upn', value: 'lin@contoso.com' },
          { type: 'email', value: 'Lin.Chen@contoso.com' },
          { type: 'email', value: 'lin@contoso.com' },
        ],
      },
    ),
  },
  {
    name: 'exportable-several-ekus-external-root',
    device: iphone,
    delivery: delivery(
      profile({
        id: 'c0ffee00-0000-4000-8000-000000000003',
        version: 2,
        name: 'S/MIME and client auth',
        keyExportable: true,
        keySize: 4096,
        extendedKeyUsages: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.4', '1.3.6.1.4.1.311.20.2.2'],
        keyUsage: ['keyEncipherment'],
        scepServerUrls: ['https://ndes.contoso.com/certsrv/mscep/mscep.dll'],
        trustedRootCertificate: ROOT_PEM,
        requireApproval: true,
      }),
      {
        target: { kind: 'device', deviceId: iphone.id },
        subject: [
          { type: 'CN', value: 'F2LXK0QJHG7F' },
          { type: 'SERIALNUMBER', value: 'F2LXK0QJHG7F' },
          { type: 'DC', value: 'contoso' },
        ],
        subjectAlternativeNames: [
          { type: 'uri', value: 'urn:device:F2LXK0QJHG7F' },
          { type: 'dns', value: 'a.contoso.com' },
          { type: 'dns', value: 'b.contoso.com' },
        ],
      },
      { scepUrl: 'https://ndes.contoso.com/certsrv/mscep/mscep.dll' },
    ),
  },
];
