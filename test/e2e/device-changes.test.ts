import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceAdapter } from '../../src/adapters/reference/index.js';
import type { PlatformAdapter } from '../../src/core/adapter.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// After each admin change that can alter a device's profiles, adapters hear
// which devices (of their platforms) are affected: this is how Apple pushes.

let t: TestGateway;
const heard: string[][] = [];
const iosOnly: PlatformAdapter = {
  ...referenceAdapter,
  name: 'listener',
  platforms: ['ios'],
  onDevicesChanged: async (devices) => {
    heard.push(devices.map((d) => d.name ?? '').sort());
  },
};

beforeAll(async () => {
  t = await startTestGateway({ adapters: [iosOnly] });
});
afterAll(async () => {
  await t.stop();
});

/** What the adapter heard from the calls made inside `fn`. */
async function heardFrom(fn: () => Promise<unknown>): Promise<string[][]> {
  heard.length = 0;
  await fn();
  await t.gw.devicesChanged.idle();
  return [...heard];
}

describe('device change notifications', () => {
  it('names the devices each admin change reaches, only on the adapter’s platforms', async () => {
    const ann = await t.api.ok('POST', '/users', { userPrincipalName: 'ann@contoso.com', email: 'ann@contoso.com', displayName: 'Ann' });
    const bob = await t.api.ok('POST', '/users', { userPrincipalName: 'bob@contoso.com', email: 'bob@contoso.com', displayName: 'Bob' });
    const phone = await t.api.ok('POST', '/devices', { name: 'ann-phone', platform: 'ios', userId: ann.id });
    await t.api.ok('POST', '/devices', { name: 'ann-laptop', platform: 'windows', userId: ann.id });
    const tablet = await t.api.ok('POST', '/devices', { name: 'shared-ipad', platform: 'ios' });
    const group = await t.api.ok('POST', '/groups', { name: 'staff' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'wifi', scope: 'device', subjectName: 'CN={{DeviceName}}' });

    // Membership of a user reaches the user's devices (Windows filtered out for an iOS adapter).
    expect(await heardFrom(() => t.api.ok('POST', `/groups/${group.id}/members`, { userId: ann.id }))).toEqual([['ann-phone']]);
    expect(await heardFrom(() => t.api.ok('POST', `/groups/${group.id}/members`, { deviceId: tablet.id }))).toEqual([['shared-ipad']]);
    // An assignment to the group reaches every member device.
    let a: { id: string } = { id: '' };
    expect(
      await heardFrom(async () => {
        a = await t.api.ok('POST', '/assignments', { profileId: profile.id, groupId: group.id });
      }),
    ).toEqual([['ann-phone', 'shared-ipad']]);
    // A new profile version reaches the devices it is assigned to.
    expect(
      await heardFrom(() => t.api.ok('PUT', `/profiles/${profile.id}`, { name: 'wifi', scope: 'device', subjectName: 'CN={{DeviceName}},O=X' }, 200)),
    ).toEqual([['ann-phone', 'shared-ipad']]);
    // Removing the assignment reaches the same devices (they must remove the profile).
    expect(await heardFrom(() => t.api.call('DELETE', `/assignments/${a.id}`))).toEqual([['ann-phone', 'shared-ipad']]);
    // A device's new primary user brings that user's profiles.
    expect(await heardFrom(() => t.api.ok('PATCH', `/devices/${phone.id}`, { userId: bob.id }, 200))).toEqual([['ann-phone']]);
    // Deleting a profile reaches those who had it assigned.
    expect(await heardFrom(() => t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: tablet.id }))).toEqual([['shared-ipad']]);
    expect(await heardFrom(() => t.api.call('DELETE', `/profiles/${profile.id}`))).toEqual([['shared-ipad']]);
    // A change that reaches no device of the adapter's platforms says nothing.
    const laptopOnly = await t.api.ok('POST', '/devices', { name: 'win-2', platform: 'windows' });
    const p2 = await t.api.ok('POST', '/profiles', { name: 'vpn', scope: 'device', subjectName: 'CN={{DeviceName}}' });
    expect(await heardFrom(() => t.api.ok('POST', '/assignments', { profileId: p2.id, deviceId: laptopOnly.id }))).toEqual([]);
  });
});
