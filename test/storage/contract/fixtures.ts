import { expect } from 'vitest';
import type { ProfileSpec, ResolvedRequest } from '../../../src/core/model.js';
import { StorageConflictError, type NewCertificate, type NewEnrollment } from '../../../src/core/storage/storage.js';
import { profileSpec } from '../../helpers/profile-spec.js';

// Fixtures and assertions shared by the per-concern contract files.

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isIso(value: string): boolean {
  return !Number.isNaN(Date.parse(value)) && new Date(value).toISOString() === value;
}

export async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected the promise to reject');
    },
    (e: unknown) => e,
  );
}

export async function expectStorageError(p: Promise<unknown>, kind: 'not-found' | 'conflict'): Promise<void> {
  const e = await rejection(p);
  expect(e).toBeInstanceOf(StorageConflictError);
  expect((e as StorageConflictError).kind).toBe(kind);
}

export function spec(overrides: Partial<ProfileSpec> = {}): ProfileSpec {
  return {
    ...profileSpec({
      name: 'Wi-Fi client',
      subjectName: 'CN={{DeviceName}},OU=MDM,O=Contoso',
      subjectAlternativeNames: [{ type: 'dns', value: '{{DeviceName}}.corp.example' }],
      keyProtection: 'tpmIfPresent',
    }),
    ...overrides,
  };
}

export const resolved: ResolvedRequest = {
  profileId: null,
  profileVersion: null,
  target: { kind: 'user', userId: 'u-1', deviceId: null },
  subject: [
    { type: 'CN', value: 'alice' },
    { type: 'O', value: 'Contoso' },
  ],
  subjectAlternativeNames: [{ type: 'upn', value: 'alice@contoso.example' }],
  extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'],
  keyUsage: ['digitalSignature'],
  keySize: 2048,
  hashAlgorithm: 'SHA-256',
  validityDays: 30,
};

export function enrollment(transactionId: string, overrides: Partial<NewEnrollment> = {}): NewEnrollment {
  return {
    transactionId,
    status: 'issued',
    kind: 'profile',
    challengeId: null,
    profileId: null,
    profileVersion: null,
    deviceId: 'dev-1',
    userId: null,
    csrSha256: 'ab'.repeat(32),
    csrDer: new Uint8Array([0x30, 0x82, 0x00, 0x01, 0xff, 0x00, 0x7f]),
    resolved,
    ...overrides,
  };
}

export function certificate(serialNumber: string, overrides: Partial<NewCertificate> = {}): NewCertificate {
  return {
    serialNumber,
    kind: 'profile',
    subject: `CN=${serialNumber},O=Contoso`,
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter: '2027-01-01T00:00:00.000Z',
    thumbprint: serialNumber.toUpperCase().padEnd(40, '0'),
    sha256: serialNumber.padEnd(64, '0'),
    transactionId: null,
    profileId: null,
    profileVersion: null,
    deviceId: 'dev-1',
    userId: null,
    der: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef]),
    ...overrides,
  };
}

export const challenge = (id: string, expiresAt = '2030-01-01T00:00:00.000Z') => ({ id, expiresAt });

export function sortedBy<T>(items: T[], key: (t: T) => string): boolean {
  return items.every((item, i) => i === 0 || key(items[i - 1]!) <= key(item));
}

/** Every row of a paged list read `size` at a time, each page after the last row of the previous one. */
export async function walkPages<T extends { createdAt: string; id: string }>(read: (q: { limit: number; after?: { createdAt: string; id: string } }) => Promise<T[]>, size: number): Promise<T[]> {
  const out: T[] = [];
  for (;;) {
    const last = out.at(-1);
    const page = await read({ limit: size, ...(last && { after: { createdAt: last.createdAt, id: last.id } }) });
    out.push(...page);
    if (page.length < size) return out;
  }
}
