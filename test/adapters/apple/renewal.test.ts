import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../../src/core/delivery.js';
import type { IssuedCertificate } from '../../../src/core/model.js';
import { planRenewals, renewalDue } from '../../../src/adapters/apple/renewal.js';
import { emptyState, newChannel, type AppleState } from '../../../src/adapters/apple/state.js';
import { GOLDEN_CASES } from './fixtures.js';

// When an installed profile's certificate is renewed: timed from the
// certificate we issued (newest unrevoked, current version), once per certificate.

const ready = GOLDEN_CASES[0]!.delivery; // renewalThresholdPercent 20
const PID = ready.profile.id;
const NB = '2030-01-01T00:00:00.000Z';
const NA = '2030-01-11T00:00:00.000Z'; // 10 days: due from day 8
const at = (iso: string) => new Date(iso);

const cert = (over: Partial<IssuedCertificate> = {}): IssuedCertificate => ({
  serialNumber: '01',
  kind: 'profile',
  subject: 'CN=x',
  notBefore: NB,
  notAfter: NA,
  thumbprint: 'A'.repeat(40),
  sha256: '00',
  transactionId: null,
  profileId: PID,
  profileVersion: 1,
  deviceId: 'd',
  userId: null,
  der: new Uint8Array(),
  issuedAt: NB,
  revokedAt: null,
  revocationReason: null,
  renewalOf: null,
  issuerId: null,
  ...over,
});

const installed = (over: Partial<AppleState['profiles'][string]> = {}): AppleState => ({
  ...emptyState(),
  enrolled: true,
  channels: { device: newChannel('aa', 'm', new Date(0)) },
  profiles: { [PID]: { version: 1, channel: 'device', identifier: `com.mdm-gateway.profile.${PID}`, status: 'installed', commandId: 'c1', ...over } },
});

describe('renewalDue', () => {
  it('is due inside the last renewalThresholdPercent of the lifetime', () => {
    const c = cert();
    expect(renewalDue(c, 20, at('2030-01-08T23:59:59.999Z'))).toBe(false);
    expect(renewalDue(c, 20, at('2030-01-09T00:00:00.000Z'))).toBe(true);
    expect(renewalDue(c, 50, at('2030-01-06T00:00:00.000Z'))).toBe(true);
    expect(renewalDue(cert({ notAfter: 'garbage' }), 20, at(NB))).toBe(true);
  });
});

describe('planRenewals', () => {
  const due = at('2030-01-10T00:00:00.000Z');

  it('queues the same identifier on the channel it is installed on, naming the certificate it replaces', () => {
    const s = installed({ channel: 'user:U' });
    expect(planRenewals(s, [ready], [cert()], due)).toEqual([
      { kind: 'InstallProfile', profileId: PID, version: 1, channel: 'user:U', identifier: `com.mdm-gateway.profile.${PID}`, renewalOf: 'A'.repeat(40), notAfter: NA },
    ]);
    expect(planRenewals(s, [ready], [cert()], at('2030-01-05T00:00:00.000Z'))).toEqual([]);
  });

  it('times it from the newest unrevoked certificate of the current version', () => {
    const s = installed();
    const renewed = cert({ serialNumber: '02', thumbprint: 'B'.repeat(40), issuedAt: '2030-01-09T00:00:00.000Z', notBefore: '2030-01-09T00:00:00.000Z', notAfter: '2030-01-19T00:00:00.000Z' });
    expect(planRenewals(s, [ready], [cert(), renewed], due)).toEqual([]);
    // Revoked: the older one is what counts.
    expect(planRenewals(s, [ready], [cert(), { ...renewed, revokedAt: NB }], due)).toHaveLength(1);
    // Issued for another version or profile: not this one's.
    expect(planRenewals(s, [ready], [cert({ profileVersion: 2 }), cert({ profileId: 'other' })], due)).toEqual([]);
  });

  it('renews a certificate once, and leaves what is not installed at the current version to planSync', () => {
    expect(planRenewals(installed({ renewalOf: 'A'.repeat(40) }), [ready], [cert()], due)).toEqual([]);
    expect(planRenewals(installed({ renewalOf: 'Z'.repeat(40) }), [ready], [cert()], due)).toHaveLength(1);
    for (const status of ['queued', 'sent', 'failed', 'removing'] as const) expect(planRenewals(installed({ status }), [ready], [cert()], due)).toEqual([]);
    expect(planRenewals(installed({ version: 0 }), [ready], [cert({ profileVersion: 0 })], due)).toEqual([]);
    const broken: Delivery = { profile: ready.profile, ok: false, error: { code: 'ATTRIBUTE_MISSING', message: 'x' } };
    expect(planRenewals(installed(), [broken], [cert()], due)).toEqual([]);
    // Unassigned: planSync removes it rather than renewing it.
    expect(planRenewals(installed(), [], [cert()], due)).toEqual([]);
  });
});
