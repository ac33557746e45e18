import type { ReadyDelivery } from '../../../src/core/adapter.js';
import type { Device, Profile } from '../../../src/core/model.js';
import { profileSpec } from '../../helpers/profile-spec.js';

// Fixed inputs for the golden files: a device, profiles and ready deliveries
// with fixed challenges and dates, and a fixed root certificate.

export const GOLDEN_ROOT_PEM = `-----BEGIN CERTIFICATE-----
MIIBtDCCAVugAwIBAgIUZDNkY3jvGCI0eGp/IzIFskNFMegwCgYIKoZIzj0EAwIw
MDEcMBoGA1UEAwwTQ29udG9zbyBHb2xkZW4gUm9vdDEQMA4GA1UECgwHQ29udG9z
bzAeFw0yNjExMjYwMDUzNThaFw0zNjExMjMwMDUzNThaMDAxHDAaBgNVBAMME0Nv
bnRvc28gR29sZGVuIFJvb3QxEDAOBgNVBAoMB0NvbnRvc28wWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAASPW/0oIQ36VzBibO5pmaBuIHBz1SbHBc1UTqewc2CwJGn0
zTuCrgRz1W4Lg9/R92IZb3JDBv5l3aNUVQkArxDbo1MwUTAdBgNVHQ4EFgQUyO5y
Bu+qnuiPzUmy5WK35WYvSJgwHwYDVR0jBBgwFoAUyO5yBu+qnuiPzUmy5WK35WYv
SJgwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiAOqeektYh9wcUz
0VtmycjJxHXFHf/1PmEsEaNSwrh76AIgCTz0coVM5r7lN2bQkw1XyNuM2FQy0kSO
tqIAOy93l6Q=
-----END CERTIFICATE-----
`;

export const device: Device = {
  id: '7d0c9a52-3f1e-4b8a-9c2d-5e6f7a8b9c0d',
  name: 'Google Pixel 8',
  platform: 'android',
  serialNumber: null,
  userId: '1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9',
  attributes: {},
  reported: { name: null, serialNumber: null, conflicts: [], updatedAt: null },
  createdAt: '2026-03-01T09:00:00.000Z',
  blockedAt: null,
  retiredAt: null,
  retiringSince: null,
};

const baseSpec = profileSpec({
  name: 'Contoso Wi-Fi (user)',
  scope: 'user',
  subjectName: 'CN={{UserPrincipalName}},O=Contoso',
  subjectAlternativeNames: [
    { type: 'upn', value: '{{UserPrincipalName}}' },
    { type: 'email', value: '{{EmailAddress}}' },
  ],
  keyProtection: 'tpmIfPresent',
});

export function profile(id: string, overrides: Partial<Profile> = {}): Profile {
  return { ...baseSpec, id, version: 1, createdAt: '2026-03-01T08:00:00.000Z', updatedAt: '2026-03-01T08:00:00.000Z', ...overrides };
}

export const userWifiProfile = profile('0a1b2c3d-4e5f-4607-8819-2a3b4c5d6e7f');

/** Hardware-bound VPN certificate: tpmRequired (and an exportable flag that must not survive), SHA-384, approval. */
export const deviceVpnProfile = profile('9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a', {
  name: 'Contoso VPN (device, hardware-bound)',
  scope: 'device',
  version: 3,
  subjectName: 'CN={{DeviceName}},OU=Mobile\\, EMEA,O=Contoso,E=mobile@contoso.com',
  subjectAlternativeNames: [{ type: 'dns', value: '{{DeviceId}}.devices.contoso.com' }],
  extendedKeyUsages: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.4.1.311.20.2.2'],
  keyUsage: ['digitalSignature'],
  keySize: 4096,
  hashAlgorithm: 'SHA-384',
  validityDays: 90,
  renewalThresholdPercent: 30,
  keyProtection: 'tpmRequired',
  keyExportable: true,
  scepServerUrls: ['https://ndes.contoso.com/certsrv/mscep/mscep.dll'],
  trustedRootCertificate: GOLDEN_ROOT_PEM,
  requireApproval: true,
});

export const userWifi: ReadyDelivery = {
  profile: userWifiProfile,
  ok: true,
  resolved: {
    profileId: userWifiProfile.id,
    profileVersion: 1,
    target: { kind: 'user', userId: device.userId!, deviceId: device.id },
    subject: [
      { type: 'CN', value: 'lin@contoso.com' },
      { type: 'O', value: 'Contoso' },
    ],
    subjectAlternativeNames: [
      { type: 'upn', value: 'lin@contoso.com' },
      { type: 'email', value: 'lin@contoso.com' },
    ],
    extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'],
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    keySize: 2048,
    hashAlgorithm: 'SHA-256',
    validityDays: 365,
  },
  challenge: 'AQGoldenChallengeUserWifi0000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
  challengeExpiresAt: new Date('2026-03-02T10:00:00.000Z'),
  scepUrl: 'https://mdm.contoso.com/certsrv/mscep/mscep.dll',
  trustedRootPem: GOLDEN_ROOT_PEM,
};

export const deviceVpn: ReadyDelivery = {
  profile: deviceVpnProfile,
  ok: true,
  resolved: {
    profileId: deviceVpnProfile.id,
    profileVersion: 3,
    target: { kind: 'device', deviceId: device.id },
    subject: [
      { type: 'CN', value: 'Google Pixel 8' },
      { type: 'OU', value: 'Mobile, EMEA' },
      { type: 'O', value: 'Contoso' },
      { type: 'E', value: 'mobile@contoso.com' },
    ],
    subjectAlternativeNames: [{ type: 'dns', value: `${device.id}.devices.contoso.com` }],
    extendedKeyUsages: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.4.1.311.20.2.2'],
    keyUsage: ['digitalSignature'],
    keySize: 4096,
    hashAlgorithm: 'SHA-384',
    validityDays: 90,
  },
  challenge: 'AQGoldenChallengeDeviceVpn',
  challengeExpiresAt: new Date('2026-03-02T10:30:00.000Z'),
  scepUrl: 'https://ndes.contoso.com/certsrv/mscep/mscep.dll',
  trustedRootPem: GOLDEN_ROOT_PEM,
};
