import { describe, expect, it } from 'vitest';
import { bumpsPlanGeneration, planGeneration, planScope, PLAN_GENERATION_SETTING } from '../../src/core/plan-generation.js';
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';
import { profileSpec } from '../helpers/profile-spec.js';

// The plan generation (src/core/plan-generation.ts) on real SQLite: a write a
// plan depends on changes it (in the database, where every instance reads
// it), a read or a write no plan reads does not, and a storage method nobody
// classified counts as a change.

const quiet = { error: () => undefined };

describe('plan generation', () => {
  it('changes after a plan-changing write, and only then', async () => {
    const inner = await openSqliteStorage(':memory:');
    const g = planGeneration(inner, quiet);
    const device = await inner.createDevice({ name: 'pg', platform: 'android' });
    const g0 = await g.current(device.id);
    const user = await g.storage.createUser({ userPrincipalName: 'pg@contoso.com', email: 'pg@contoso.com', displayName: 'PG', attributes: {} } as Parameters<typeof inner.createUser>[0]);
    const g1 = await g.current(device.id);
    expect(g1).not.toBe(g0);
    // What another instance sees: the value in the database changed.
    expect(await inner.getSetting(PLAN_GENERATION_SETTING)).not.toBeNull();
    await g.storage.getUser(user.id);
    await g.storage.listUsers();
    await g.storage.appendAudit({ transactionId: null, type: 'test', reasonCode: null, actor: 'test', details: {} });
    await g.storage.putSetting('unrelated', 'x');
    expect(await g.current(device.id)).toBe(g1);
    await g.storage.createAssignment((await g.storage.createProfile(profileSpec({ name: 'pg', subjectName: 'CN=pg' }))).id, { userId: user.id });
    expect(await g.current(device.id)).not.toBe(g1);
    await g.storage.updateUser(user.id, { attributes: { department: 'Sales' } } as Parameters<typeof inner.updateUser>[1], new Date().toISOString(), 'unspecified');
    expect(await g.current(device.id)).not.toBe(g1);
    await inner.close();
  });

  it('keeps one wrapper per method, and still sees a method replaced after its first call (tests observe storage that way)', async () => {
    const inner = await openSqliteStorage(':memory:');
    const g = planGeneration(inner, quiet);
    expect(g.storage.getSetting).toBe(g.storage.getSetting);
    expect(g.storage.putSetting).toBe(g.storage.putSetting);
    await g.storage.createDevice({ name: 'w', platform: 'android' });
    const before = await inner.getSetting(PLAN_GENERATION_SETTING);
    const original = inner.getSetting;
    let seen = 0;
    inner.getSetting = async (key: string) => (seen++, original.call(inner, key));
    await g.storage.getSetting('x');
    expect(seen).toBe(1);
    const create = inner.createUser;
    let created = 0;
    inner.createUser = async (...a: Parameters<typeof create>) => (created++, create.apply(inner, a));
    await g.storage.createUser({ userPrincipalName: 'w@contoso.com', email: 'w@contoso.com', displayName: 'W', attributes: {} } as Parameters<typeof inner.createUser>[0]);
    expect(created).toBe(1);
    // Still a plan-changing write through the replaced method.
    expect(await original.call(inner, PLAN_GENERATION_SETTING)).not.toBe(before);
    await inner.close();
  });

  it('counts an unclassified storage method as a change; reads by name do not', () => {
    expect(bumpsPlanGeneration('someFutureWrite')).toBe(true);
    for (const m of ['createAssignment', 'deleteAssignment', 'updateProfile', 'addGroupMember', 'setGroupUserMembers', 'updateDevice', 'revokeCertificateChain', 'recordEnrollment', 'createExternalUsers']) expect(bumpsPlanGeneration(m), m).toBe(true);
    for (const m of ['getProfile', 'listCertificates', 'groupsOf', 'assignmentsFor', 'appendAudit', 'putPlatformState', 'tryLease', 'enqueueCommand']) expect(bumpsPlanGeneration(m), m).toBe(false);
  });

  it('bumps only the devices a device-scoped write reaches; a user change reaches its devices; the rest bump global', async () => {
    const inner = await openSqliteStorage(':memory:');
    const g = planGeneration(inner, quiet);
    const user = await inner.createUser({ userPrincipalName: 'scope@contoso.com', email: 'scope@contoso.com', displayName: 'Scope' });
    const a = await inner.createDevice({ name: 'a', platform: 'android', userId: user.id });
    const b = await inner.createDevice({ name: 'b', platform: 'android' });
    const gens = async () => [await g.current(a.id), await g.current(b.id)];
    let [a0, b0] = await gens();
    await g.storage.updateDevice(a.id, { attributes: { floor: '3' } });
    let [a1, b1] = await gens();
    expect(a1).not.toBe(a0);
    expect(b1).toBe(b0);
    // A user's attributes: the user's devices only.
    await g.storage.updateUser(user.id, { attributes: { department: 'Sales' } }, new Date().toISOString(), 'unspecified');
    [a0, b0] = [a1, b1];
    [a1, b1] = await gens();
    expect(a1).not.toBe(a0);
    expect(b1).toBe(b0);
    // A group membership: the member only.
    const group = await g.storage.createGroup('scope');
    [a0, b0] = await gens();
    await g.storage.addGroupMember(group.id, { deviceId: b.id });
    [a1, b1] = await gens();
    expect(a1).toBe(a0);
    expect(b1).not.toBe(b0);
    // An issued certificate (its transaction bumps the device): that device only, and one commit.
    await g.storage.recordEnrollment(null, { transactionId: 'scope-tx', status: 'issued', kind: 'profile', challengeId: null, profileId: null, profileVersion: null, deviceId: a.id, userId: null, csrSha256: 'ab'.repeat(32), csrDer: new Uint8Array([0x30]), resolved: null }, { serialNumber: 'abc1', kind: 'profile', subject: 'CN=a', notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2027-01-01T00:00:00.000Z', thumbprint: 'ABC1'.padEnd(40, '0'), sha256: 'abc1'.padEnd(64, '0'), transactionId: 'scope-tx', profileId: null, profileVersion: null, deviceId: a.id, userId: null, der: new Uint8Array([0x30, 0x00]) });
    [a0, b0] = [a1, b1];
    [a1, b1] = await gens();
    expect(a1).not.toBe(a0);
    expect(b1).toBe(b0);
    expect(await inner.getSetting(PLAN_GENERATION_SETTING)).toBe(globalBefore(a0!));
    // A pending removal dropped (its profile is back): the device it was on only, not the global generation (issue 13).
    await g.storage.addPendingRemovals([{ serialNumber: 'abc1', deviceId: a.id, profileId: 'p-scope' }], new Date().toISOString());
    [a0, b0] = await gens();
    expect(await g.storage.cancelPendingRemovals(['abc1', 'not-pending'])).toBe(1);
    [a1, b1] = await gens();
    expect(a1).not.toBe(a0);
    expect(b1).toBe(b0);
    expect(globalBefore(a1!)).toBe(globalBefore(a0!));
    // Nothing dropped: nothing bumped.
    expect(await g.storage.cancelPendingRemovals(['abc1'])).toBe(0);
    expect(await gens()).toEqual([a1, b1]);
    await inner.close();
  });

  it('classifies writes: device scope from the arguments, the user of a membership, global when unknown', () => {
    expect(planScope('updateDevice', ['d1', {}], null)).toEqual({ kind: 'devices', ids: ['d1'] });
    expect(planScope('addPendingRemovals', [[{ serialNumber: 's', deviceId: 'd2', profileId: 'p' }], 'now'], [])).toEqual({ kind: 'devices', ids: ['d2'] });
    expect(planScope('addGroupMember', ['g', { userId: 'u1' }], undefined)).toEqual({ kind: 'user', id: 'u1' });
    expect(planScope('deleteUser', ['u1'], { ok: true, devices: ['d3'] })).toEqual({ kind: 'devices', ids: ['d3'] });
    for (const m of ['recordEnrollment', 'revokeCertificate', 'revokeCertificateChain', 'revokePendingRemoval', 'cancelPendingRemovals', 'getPlanGenerations', 'bumpDevicePlanGenerations']) expect(planScope(m, [], null), m).toEqual({ kind: 'none' });
    for (const m of ['createAssignment', 'updateProfile', 'setGroupUserMembers', 'someFutureWrite']) expect(planScope(m, ['x'], null), m).toEqual({ kind: 'global' });
    // A device write whose argument is not a device id falls back to global.
    expect(planScope('updateDevice', [undefined], null)).toEqual({ kind: 'global' });
  });
});

/** The global part of a generation string (`epoch:global:device`). */
const globalBefore = (generation: string) => generation.split(':')[1] || null;
