import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../../src/core/delivery.js';
import { planSync, channelFor } from '../../../src/adapters/apple/plan.js';
import { emptyState, newChannel, type AppleState } from '../../../src/adapters/apple/state.js';
import { applyCheckin } from '../../../src/adapters/apple/checkin.js';
import { applyResult, errorCodeOf } from '../../../src/adapters/apple/results.js';
import { GOLDEN_CASES } from './fixtures.js';

// The pure decisions: what to queue, and what check-ins and answers do to the state.

const ready = GOLDEN_CASES[0]!.delivery;
const enrolled = (): AppleState => ({ ...emptyState(), enrolled: true, udid: 'U1', channels: { device: newChannel('aa', 'm', new Date(0)) } });

describe('planSync', () => {
  it('installs a ready profile once, reinstalls a new version, removes an unassigned one', () => {
    const s = enrolled();
    const p1 = planSync('ios', s, [ready]);
    expect(p1.steps).toEqual([{ kind: 'InstallProfile', profileId: ready.profile.id, version: 1, channel: 'device', identifier: `com.mdm-gateway.profile.${ready.profile.id}` }]);
    s.profiles[ready.profile.id] = { version: 1, channel: 'device', identifier: 'x', status: 'installed', commandId: 'c1' };
    expect(planSync('ios', s, [ready]).steps).toEqual([]);
    const v2 = { ...ready, profile: { ...ready.profile, version: 2 } };
    expect(planSync('ios', s, [v2]).steps).toMatchObject([{ kind: 'InstallProfile', version: 2 }]);
    expect(planSync('ios', s, []).steps).toEqual([{ kind: 'RemoveProfile', profileId: ready.profile.id, version: 1, channel: 'device', identifier: 'x' }]);
    s.profiles[ready.profile.id]!.status = 'queued';
    expect(planSync('ios', s, []).cancel).toEqual([{ commandId: 'c1', profileId: ready.profile.id }]);
    s.profiles[ready.profile.id]!.status = 'failed';
    expect(planSync('ios', s, [ready]).steps).toEqual([]);
    expect(planSync('ios', s, [ready], { retryFailed: true }).steps).toHaveLength(1);
    expect(planSync('ios', s, []).forget).toEqual([ready.profile.id]);
  });

  it('reports delivery errors and tpmRequired once, and delivers nothing for them', () => {
    const s = enrolled();
    const broken: Delivery = { profile: ready.profile, ok: false, error: { code: 'ATTRIBUTE_MISSING', message: 'no serial' } };
    const p = planSync('ios', s, [broken]);
    expect(p.reports).toMatchObject([{ state: 'failed', errorCode: 'ATTRIBUTE_MISSING' }]);
    Object.assign(s.reportedErrors, p.errorsReported);
    expect(planSync('ios', s, [broken]).reports).toEqual([]);
    const tpm = { ...ready, profile: { ...ready.profile, id: 'other', keyProtection: 'tpmRequired' as const } };
    const q = planSync('ios', s, [tpm]);
    expect(q.steps).toEqual([]);
    expect(q.reports).toMatchObject([{ errorCode: 'KEY_PROTECTION_UNSUPPORTED' }]);
  });

  it('macOS user scope goes to the newest user channel, or waits', () => {
    const s = enrolled();
    expect(channelFor('macos', 'user', s)).toBeNull();
    expect(channelFor('ios', 'user', s)).toBe('device');
    s.channels['user:A'] = newChannel('bb', 'm', new Date(1000));
    s.channels['user:B'] = newChannel('cc', 'm', new Date(2000));
    expect(channelFor('macos', 'user', s)).toBe('user:B');
    expect(channelFor('macos', 'device', s)).toBe('device');
  });
});

describe('check-in transitions', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  it('Authenticate binds the UDID; another UDID is refused; TokenUpdate needs Authenticate first', () => {
    const tu = { MessageType: 'TokenUpdate', Topic: 't', UDID: 'U1', Token: new Uint8Array([1, 2]), PushMagic: 'pm' };
    expect(applyCheckin(emptyState(), tu, now)).toMatchObject({ ok: false, status: 409 });
    const a = applyCheckin(emptyState(), { MessageType: 'Authenticate', Topic: 't', UDID: 'U1', SerialNumber: 'S', OSVersion: '18.1' }, now);
    expect(a).toMatchObject({ ok: true, state: { enrolled: true, udid: 'U1', serialNumber: 'S', osVersion: '18.1' } });
    if (!a.ok) return;
    expect(applyCheckin(a.state, { MessageType: 'Authenticate', Topic: 't', UDID: 'U2' }, now)).toMatchObject({ ok: false, status: 403 });
    const t = applyCheckin(a.state, { ...tu, UnlockToken: new Uint8Array([9]) }, now);
    expect(t).toMatchObject({ ok: true, channel: 'device', state: { channels: { device: { token: '0102', pushMagic: 'pm', unlockToken: true } } } });
    expect(JSON.stringify(t)).not.toContain('"9"');
    if (!t.ok) return;
    const out = applyCheckin(t.state, { MessageType: 'CheckOut', Topic: 't', UDID: 'U1' }, now);
    expect(out).toMatchObject({ ok: true, state: { enrolled: false, channels: {} } });
    expect(applyCheckin(a.state, { MessageType: 'Bogus' }, now)).toMatchObject({ ok: false, status: 400 });
    expect(applyCheckin(a.state, { MessageType: 'TokenUpdate', Topic: 't', UDID: 'U1' }, now)).toMatchObject({ ok: false, status: 400 });
  });
});

describe('command results', () => {
  it('maps the ErrorChain to a platform error code and keeps NotNow for the next Idle', () => {
    expect(errorCodeOf([{ ErrorCode: 4001, ErrorDomain: 'MCInstallationErrorDomain', USEnglishDescription: 'bad' }, { ErrorCode: 1, ErrorDomain: 'X' }])).toEqual({ code: 'MCInstallationErrorDomain:4001', detail: 'bad <- X:1' });
    expect(errorCodeOf(undefined).code).toBe('Error');
    const s = enrolled();
    s.profiles.p = { version: 1, channel: 'device', identifier: 'x', status: 'sent', commandId: 'c1' };
    const cmd = { id: 'c1', deviceId: 'd', channel: 'device', kind: 'InstallProfile', payload: {}, profileId: 'p', profileVersion: 1, status: 'sent' as const, result: null, createdAt: '', updatedAt: '' };
    applyResult(s, cmd, { Status: 'NotNow', UDID: 'U1' }, 'device');
    expect(s.channels.device!.notNow).toEqual(['c1']);
    expect(s.profiles.p!.status).toBe('queued');
    const fx = applyResult(s, cmd, { Status: 'CommandFormatError', UDID: 'U1' }, 'device');
    expect(fx.reports).toMatchObject([{ state: 'failed', errorCode: 'CommandFormatError' }]);
    expect(s.profiles.p!.status).toBe('failed');
  });
});

describe('appleAdapter', () => {
  it('serves iOS and macOS and names the enrollment URL', async () => {
    const { appleAdapter } = await import('../../../src/adapters/apple/index.js');
    expect(appleAdapter.name).toBe('apple');
    expect([...appleAdapter.platforms]).toEqual(['ios', 'macos']);
    expect(appleAdapter.enrollmentUrl('ABC234', 'https://gw.example')).toBe('https://gw.example/mdm/enroll?token=ABC234');
    expect(typeof appleAdapter.adminRoutes).toBe('function');
  });
});
