import { describe, expect, it } from 'vitest';
import { emptyState, type InstalledCertificate } from '../../../src/adapters/android/state.js';
import { decideChallenge, requestHash } from '../../../src/adapters/android/challenge-reuse.js';
import { checkin } from '../../../src/adapters/android/checkin.js';
import { challengeSpent, renewalCertificate, withIssuedValidity, type IssuedFacts } from '../../../src/adapters/android/issued-certificates.js';
import { device, deviceVpn, userWifi } from './fixtures.js';

// Renewal timing and spent challenges from the certificates the gateway issued
// (AdapterServices.certificates.list), rather than from what the agent reported.

const wifi = userWifi.profile.id;
const at = (iso: string) => new Date(iso);

function cert(overrides: Partial<IssuedFacts> = {}): IssuedFacts {
  return {
    thumbprint: 'AA'.repeat(20),
    profileId: wifi,
    profileVersion: 1,
    notBefore: '2026-03-02T08:55:00.000Z',
    notAfter: '2026-03-03T08:55:00.000Z',
    issuedAt: '2026-03-02T09:00:00.000Z',
    revokedAt: null,
    ...overrides,
  };
}

/** What the agent's report left in state: no certificate sent, so a year estimated from the report. */
const reported: InstalledCertificate = {
  profileVersion: 1,
  thumbprint: 'AA'.repeat(20),
  alias: `mdmgw-${wifi}`,
  reportedAt: '2026-03-02T09:06:00.000Z',
  notBefore: '2026-03-02T09:06:00.000Z',
  notAfter: '2027-03-02T09:06:00.000Z',
};

describe('the issued certificate that times renewal', () => {
  it('is the one the agent reported, if we issued it for this version and it is not revoked', () => {
    const older = cert();
    const newer = cert({ thumbprint: 'BB'.repeat(20), issuedAt: '2026-03-02T10:00:00.000Z' });
    expect(renewalCertificate([older, newer], wifi, 1, 'aa'.repeat(20))).toBe(older);
    expect(renewalCertificate([cert({ revokedAt: '2026-03-02T09:30:00.000Z' }), newer], wifi, 1, 'AA'.repeat(20))).toBe(newer);
  });
  it('else the newest unrevoked one for this profile version', () => {
    const newest = cert({ thumbprint: 'CC'.repeat(20), issuedAt: '2026-03-02T11:00:00.000Z' });
    const certs = [cert({ thumbprint: 'BB'.repeat(20), issuedAt: '2026-03-02T10:00:00.000Z' }), newest, cert({ thumbprint: 'DD'.repeat(20), issuedAt: '2026-03-02T12:00:00.000Z', revokedAt: '2026-03-02T12:01:00.000Z' })];
    expect(renewalCertificate(certs, wifi, 1, 'EE'.repeat(20))).toBe(newest);
    expect(renewalCertificate([...certs, cert({ thumbprint: 'FF'.repeat(20), profileVersion: 2, issuedAt: '2026-03-02T13:00:00.000Z' })], wifi, 1, undefined)).toBe(newest);
    expect(renewalCertificate(certs, deviceVpn.profile.id, 1, undefined)).toBeUndefined();
    expect(renewalCertificate([cert({ profileVersion: null })], wifi, 1, undefined)).toBeUndefined();
  });
  it('replaces the reported or estimated validity, and nothing else', () => {
    expect(withIssuedValidity(reported, [cert()], wifi)).toEqual({ ...reported, notBefore: cert().notBefore, notAfter: cert().notAfter });
    expect(withIssuedValidity(reported, [], wifi)).toBe(reported);
    expect(withIssuedValidity(undefined, [cert()], wifi)).toBeUndefined();
  });
});

describe('check-in with issued certificates', () => {
  it('asks for renewal when the issued certificate is inside its threshold, though the estimate says keep', () => {
    const state = { ...emptyState(), installed: { [wifi]: reported } };
    const now = at('2026-03-03T05:00:00Z'); // 18 of the issued certificate's 24 hours gone
    expect(checkin(device, [userWifi], state, 1, now).document.policies[0]!.action).toBe('keep');
    const due = checkin(device, [userWifi], state, 1, now, [cert()]).document.policies[0]!;
    expect(due).toMatchObject({ action: 'renew', scep: { challenge: userWifi.challenge } });
  });

  it('does not serve a challenge again once a certificate for the profile was issued after it was minted', () => {
    const a = checkin(device, [userWifi], emptyState(), 1, at('2026-03-02T09:00:00Z'));
    const next = { ...userWifi, challenge: 'AQfresh' };
    const later = at('2026-03-02T09:05:00Z');
    // No result reported and nothing issued: the same challenge, the same ETag.
    expect(checkin(device, [next], a.state, 1, later).etag).toBe(a.etag);
    // Issued before the mint (an earlier enrollment): still unused.
    expect(checkin(device, [next], a.state, 1, later, [cert({ issuedAt: '2026-03-02T08:59:59.000Z' })]).etag).toBe(a.etag);
    const b = checkin(device, [next], a.state, 1, later, [cert({ issuedAt: '2026-03-02T09:02:00.000Z' })]);
    expect(b.document.policies[0]).toMatchObject({ action: 'enroll', scep: { challenge: 'AQfresh' } });
    expect(b.etag).not.toBe(a.etag);
    expect(b.state.challenges[wifi]).toMatchObject({ challenge: 'AQfresh', mintedAt: later.toISOString() });
  });

  it('counts a certificate of any version, revoked or not, and only of this profile', () => {
    const minted = '2026-03-02T09:00:00.000Z';
    expect(challengeSpent([cert({ issuedAt: '2026-03-02T09:01:00.000Z', profileVersion: 7, revokedAt: '2026-03-02T09:02:00.000Z' })], wifi, minted)).toBe(true);
    expect(challengeSpent([cert({ issuedAt: '2026-03-02T09:01:00.000Z', profileId: deviceVpn.profile.id })], wifi, minted)).toBe(false);
    expect(challengeSpent([cert({ issuedAt: minted })], wifi, minted)).toBe(false);
    const stored = { profileVersion: 1, requestHash: requestHash(userWifi), challenge: 'AQStored', scepUrl: 'https://scep.example', mintedAt: minted, expiresAt: '2026-03-02T10:00:00.000Z' };
    expect(decideChallenge(userWifi, stored, undefined, undefined, at('2026-03-02T09:05:00Z'), [cert({ issuedAt: '2026-03-02T09:01:00.000Z' })])).toMatchObject({ reuse: false, why: 'used' });
  });
});
