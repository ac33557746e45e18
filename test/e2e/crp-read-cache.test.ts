import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planGeneration } from '../../src/core/plan-generation.js';
import { openStorage } from '../../src/core/storage/index.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Issue 13: the CRP keeps the profile, the target device, its primary user
// and whether the profile is assigned across enrollments, under the plan
// generations (src/core/crp/read-cache.ts). Each test warms the cache with an
// issued enrollment, changes one input (through the admin API, or as another
// instance would: its own storage on the same database), and shows that the
// next enrollment, with a challenge minted BEFORE the change, sees it. With
// the generations left out of the cache's keys every one of them issues.

let t: TestGateway;
const silent = { error: () => undefined };

beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t?.stop();
});

interface Setup {
  device: { id: string };
  profile: { id: string };
  assignment: { id: string };
  user?: { id: string };
}

/** A device (with a primary user when `upn`), a profile whose subject reads `subject`'s templates, assigned to the device. */
async function setup(name: string, subject: string, upn?: string): Promise<Setup> {
  const user = upn ? await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: name }) : undefined;
  const device = await t.api.ok('POST', '/devices', { name, platform: 'windows', ...(user && { userId: user.id }) });
  const profile = await t.api.ok('POST', '/profiles', { name, scope: 'device', subjectName: subject });
  const assignment = await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
  return { device, profile, assignment, user };
}

const mint = async (s: Setup) => (await t.api.ok('POST', '/challenges', { profileId: s.profile.id, deviceId: s.device.id })).challenge as string;
const enroll = (challenge: string, subject: string) => scepEnroll({ scepUrl: t.scepUrl, subject, challenge });

/** Issues once (the cache now holds this device's reads) and mints a second challenge under the same state. */
async function warmed(s: Setup, subject: string): Promise<string> {
  const first = await enroll(await mint(s), subject);
  expect(first.status).toBe('SUCCESS');
  return mint(s);
}

describe('the CRP read cache sees every change at the next enrollment', () => {
  it('issues from the cache while nothing changed (the cached reads are the ones it would make)', async () => {
    const s = await setup('rc-same', 'CN={{DeviceName}},O=Rc');
    const next = await warmed(s, 'CN=rc-same, O=Rc');
    const again = await warmed(s, 'CN=rc-same, O=Rc');
    expect((await enroll(next, 'CN=rc-same, O=Rc')).status).toBe('SUCCESS');
    expect((await enroll(again, 'CN=rc-same, O=Rc')).status).toBe('SUCCESS');
  });

  it('a profile edited after the challenge was minted: REQUEST_CHANGED', async () => {
    const s = await setup('rc-profile', 'CN={{DeviceName}},O=Rc');
    const next = await warmed(s, 'CN=rc-profile, O=Rc');
    await t.api.ok('PUT', `/profiles/${s.profile.id}`, { name: 'rc-profile', scope: 'device', subjectName: 'CN={{DeviceName}},O=Edited' });
    const r = await enroll(next, 'CN=rc-profile, O=Rc');
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toMatch(/REQUEST_CHANGED/);
  });

  it('the assignment removed: PROFILE_NOT_ASSIGNED', async () => {
    const s = await setup('rc-assignment', 'CN={{DeviceName}},O=Rc');
    const next = await warmed(s, 'CN=rc-assignment, O=Rc');
    await t.api.ok('DELETE', `/assignments/${s.assignment.id}`, undefined, 204);
    const r = await enroll(next, 'CN=rc-assignment, O=Rc');
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toMatch(/PROFILE_NOT_ASSIGNED/);
  });

  it("the device's primary user changed (an attribute the subject reads): REQUEST_CHANGED", async () => {
    const s = await setup('rc-user', 'CN={{DeviceName}},OU={{DisplayName}}', 'rc-user@contoso.com');
    const next = await warmed(s, 'CN=rc-user, OU=rc-user');
    await t.api.ok('PATCH', `/users/${s.user!.id}`, { displayName: 'renamed' });
    const r = await enroll(next, 'CN=rc-user, OU=rc-user');
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toMatch(/REQUEST_CHANGED/);
  });

  it("a user certificate's user disabled: USER_DISABLED (a user's reads are never kept: a user without a device has no generation)", async () => {
    const s = await setup('rc-disabled', 'CN={{UserPrincipalName}},O=Rc', 'rc-disabled@contoso.com');
    const profile = await t.api.ok('POST', '/profiles', { name: 'rc-disabled-user', scope: 'user', subjectName: 'CN={{UserPrincipalName}},O=Rc' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: s.device.id });
    const mintUser = async () => (await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: s.device.id })).challenge as string;
    expect((await enroll(await mintUser(), 'CN=rc-disabled@contoso.com, O=Rc')).status).toBe('SUCCESS');
    const next = await mintUser();
    await t.api.ok('PATCH', `/users/${s.user!.id}`, { enabled: false });
    const r = await enroll(next, 'CN=rc-disabled@contoso.com, O=Rc');
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toMatch(/USER_DISABLED/);
  });

  it("another instance's write (its own storage on the same database): the assignment it removed is seen", async () => {
    const s = await setup('rc-other', 'CN={{DeviceName}},O=Rc');
    const next = await warmed(s, 'CN=rc-other, O=Rc');
    // What another gateway process does: its storage, behind its own plan-generation proxy, on the same database file.
    const other = await openStorage(undefined, t.dataDir);
    try {
      const gen = planGeneration(other, silent);
      expect(await gen.storage.deleteAssignment(s.assignment.id)).not.toBeNull();
    } finally {
      await other.close();
    }
    const r = await enroll(next, 'CN=rc-other, O=Rc');
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toMatch(/PROFILE_NOT_ASSIGNED/);
  });

  it("another instance's device write (renamed): REQUEST_CHANGED", async () => {
    const s = await setup('rc-rename', 'CN={{DeviceName}},O=Rc');
    const next = await warmed(s, 'CN=rc-rename, O=Rc');
    const other = await openStorage(undefined, t.dataDir);
    try {
      await planGeneration(other, silent).storage.updateDevice(s.device.id, { name: 'rc-renamed' });
    } finally {
      await other.close();
    }
    const r = await enroll(next, 'CN=rc-rename, O=Rc');
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toMatch(/REQUEST_CHANGED/);
  });
});

