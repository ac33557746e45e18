import { describe, expect, it } from 'vitest';
import type { AdapterServices } from '../../../src/core/adapter.js';
import type { DeviceCommand, IssuedCertificate } from '../../../src/core/model.js';
import { commandPlist } from '../../../src/adapters/apple/commands.js';
import { certificateInstalledBy, newestIssued } from '../../../src/adapters/apple/issued-certificates.js';
import { applyResult } from '../../../src/adapters/apple/results.js';
import { emptyState, newChannel, type AppleState } from '../../../src/adapters/apple/state.js';
import { GOLDEN_CASES, iphone } from './fixtures.js';

// Sending an InstallProfile prepares only its own profile; an acknowledged one
// is matched to the certificate we issued for it, and only without one does the
// adapter ask the device (CertificateList).

const ready = GOLDEN_CASES[0]!.delivery;
const PID = ready.profile.id;

const command = (over: Partial<DeviceCommand> = {}): DeviceCommand => ({
  id: 'c1',
  deviceId: iphone.id,
  channel: 'device',
  kind: 'InstallProfile',
  payload: { identifier: `com.mdm-gateway.profile.${PID}` },
  profileId: PID,
  profileVersion: 1,
  status: 'sent',
  result: null,
  createdAt: '2030-01-01T00:00:00.000Z',
  updatedAt: '2030-01-01T10:00:00.000Z',
  ...over,
});

let serial = 0;
const cert = (over: Partial<IssuedCertificate> = {}): IssuedCertificate => ({
  serialNumber: (++serial).toString(16).padStart(2, '0'),
  kind: 'profile',
  subject: 'CN=Lin iPhone,O=Contoso',
  notBefore: '2030-01-01T09:50:00.000Z',
  notAfter: '2031-01-01T10:00:00.000Z',
  thumbprint: `T${serial}`.padEnd(40, '0'),
  sha256: '00',
  transactionId: null,
  profileId: PID,
  profileVersion: 1,
  deviceId: iphone.id,
  userId: null,
  der: new Uint8Array(),
  issuedAt: '2030-01-01T10:00:01.000Z',
  revokedAt: null,
  revocationReason: null,
  renewalOf: null,
  issuerId: null,
  ...over,
});

const enrolled = (): AppleState => ({ ...emptyState(), enrolled: true, udid: 'U1', channels: { device: newChannel('aa', 'm', new Date(0)) } });

describe('InstallProfile rendering', () => {
  it('prepares only the profile of the command being sent (one challenge, not one per assigned profile)', async () => {
    const asked: unknown[] = [];
    const s = {
      deliveriesFor: async (_d: unknown, only?: { profileIds: readonly string[] }) => {
        asked.push(only);
        return [ready];
      },
      signAttached: async (b: Uint8Array) => b,
    } as unknown as AdapterServices;
    const built = await commandPlist(s, iphone, command());
    expect(asked).toEqual([{ profileIds: [PID] }]);
    expect(built?.plist.Command).toMatchObject({ RequestType: 'InstallProfile' });
    expect(built?.subject).toEqual(ready.resolved.subject);
    // Unassigned meanwhile (absent from the answer) or at another version: obsolete.
    expect(await commandPlist({ ...s, deliveriesFor: async () => [] } as AdapterServices, iphone, command())).toBeNull();
    expect(await commandPlist(s, iphone, command({ profileVersion: 2 }))).toBeNull();
  });
});

describe('the certificate an InstallProfile installed', () => {
  it('is the newest issued for this device, profile and version at or after the command was sent', async () => {
    const listed: unknown[] = [];
    const certs = [
      cert({ issuedAt: '2030-01-01T09:00:00.000Z' }), // before the send: an earlier install
      cert({ profileVersion: 2 }), // another version
      cert({ profileId: 'other' }), // another profile
      cert({ issuedAt: '2030-01-01T10:00:00.000Z' }), // at the send's millisecond: counts
    ];
    const s = { certificates: { list: async (f: unknown) => (listed.push(f), certs), byThumbprint: async () => null } };
    expect((await certificateInstalledBy(s, iphone.id, command()))?.serialNumber).toBe(certs[3]!.serialNumber);
    expect(listed).toEqual([{ deviceId: iphone.id, profileId: PID }]);
    // A repeated answer (the command is no longer 'sent') or another kind: not looked up.
    expect(await certificateInstalledBy(s, iphone.id, command({ status: 'acknowledged' }))).toBeNull();
    expect(await certificateInstalledBy(s, iphone.id, command({ kind: 'ProfileList', profileId: null, profileVersion: null }))).toBeNull();
    expect(listed).toHaveLength(1);
    // None issued after the send (a foreign SCEP server issued it): null, the caller falls back.
    expect(await certificateInstalledBy({ certificates: { ...s.certificates, list: async () => certs.slice(0, 3) } }, iphone.id, command())).toBeNull();
  });

  it('newestIssued: newest by issuance, optionally unrevoked only', () => {
    const a = cert({ issuedAt: '2030-02-01T00:00:00.000Z' });
    const b = cert({ issuedAt: '2030-03-01T00:00:00.000Z', revokedAt: '2030-03-02T00:00:00.000Z' });
    expect(newestIssued([b, a], { profileId: PID, profileVersion: 1 })).toBe(b);
    expect(newestIssued([b, a], { profileId: PID, profileVersion: 1, unrevoked: true })).toBe(a);
    expect(newestIssued([a], { profileId: PID, profileVersion: 1, since: '2030-02-01T00:00:00.001Z' })).toBeNull();
  });

  it('Acknowledged with our certificate reports installed with its thumbprint now; without one, asks the device', () => {
    const s = enrolled();
    s.profiles[PID] = { version: 1, channel: 'device', identifier: 'x', status: 'sent', commandId: 'c1' };
    const ours = cert();
    const fx = applyResult(s, command(), { Status: 'Acknowledged', UDID: 'U1' }, 'device', ours);
    expect(fx.reports).toMatchObject([{ profileId: PID, profileVersion: 1, state: 'installed', thumbprint: ours.thumbprint }]);
    expect(fx.followUps).toEqual([]);
    expect(s.profiles[PID]).toMatchObject({ status: 'installed', thumbprint: ours.thumbprint });

    const t = enrolled();
    t.profiles[PID] = { version: 1, channel: 'device', identifier: 'x', status: 'sent', commandId: 'c1' };
    const fallback = applyResult(t, command(), { Status: 'Acknowledged', UDID: 'U1' }, 'device', null);
    expect(fallback.reports).toMatchObject([{ state: 'installed' }]);
    expect(fallback.reports[0]!.thumbprint).toBeUndefined();
    expect(fallback.followUps).toEqual(['CertificateList']);
    expect(t.profiles[PID]!.thumbprint).toBeUndefined();
  });
});
