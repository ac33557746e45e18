import { describe, expect, it } from 'vitest';
import { currentCertificate, renewalDue, type IssuedFacts } from '../../src/core/renewal.js';

// core/renewal.ts is the one renewal rule every adapter times re-issue by.

const at = (iso: string) => new Date(iso);

describe('renewalDue', () => {
  const v = { notBefore: '2030-01-01T00:00:00.000Z', notAfter: '2030-01-11T00:00:00.000Z' }; // 10 days
  it('is due once the last thresholdPercent of the validity has begun', () => {
    expect(renewalDue(v, 20, at('2030-01-08T23:59:59.999Z'))).toBe(false);
    expect(renewalDue(v, 20, at('2030-01-09T00:00:00.000Z'))).toBe(true);
    expect(renewalDue(v, 50, at('2030-01-05T23:59:59.999Z'))).toBe(false);
    expect(renewalDue(v, 50, at('2030-01-06T00:00:00.000Z'))).toBe(true);
  });
  it('treats a validity it cannot read as due', () => {
    expect(renewalDue({ ...v, notAfter: 'garbage' }, 20, at('2030-01-02T00:00:00.000Z'))).toBe(true);
    expect(renewalDue({ ...v, notAfter: v.notBefore }, 20, at('2030-01-02T00:00:00.000Z'))).toBe(true);
  });
});

describe('currentCertificate', () => {
  const cert = (over: Partial<IssuedFacts>): IssuedFacts => ({
    thumbprint: 'AA'.repeat(20),
    profileId: 'p1',
    profileVersion: 1,
    notBefore: '2030-01-01T00:00:00.000Z',
    notAfter: '2031-01-01T00:00:00.000Z',
    issuedAt: '2030-01-01T00:00:00.000Z',
    revokedAt: null,
    ...over,
  });
  const older = cert({});
  const newer = cert({ thumbprint: 'BB'.repeat(20), issuedAt: '2030-02-01T00:00:00.000Z' });
  it('prefers the certificate the device reported, else the newest unrevoked one of the profile version', () => {
    expect(currentCertificate([older, newer], 'p1', 1, 'aa'.repeat(20))).toBe(older);
    expect(currentCertificate([older, newer], 'p1', 1)).toBe(newer);
    expect(currentCertificate([older, { ...newer, revokedAt: '2030-03-01T00:00:00.000Z' }], 'p1', 1)).toBe(older);
    expect(currentCertificate([older, newer], 'p1', 2)).toBeUndefined();
    expect(currentCertificate([older, newer], 'p2', 1)).toBeUndefined();
  });
});
