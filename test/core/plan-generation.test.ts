import { describe, expect, it } from 'vitest';
import { bumpsPlanGeneration, planGeneration, PLAN_GENERATION_SETTING } from '../../src/core/plan-generation.js';
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';

// The plan generation (src/core/plan-generation.ts) on real SQLite: a write a
// plan depends on changes it (in the database, where every instance reads
// it), a read or a write no plan reads does not, and a storage method nobody
// classified counts as a change.

const quiet = { error: () => undefined };

describe('plan generation', () => {
  it('changes after a plan-changing write, and only then', async () => {
    const inner = await openSqliteStorage(':memory:');
    const g = planGeneration(inner, quiet);
    const g0 = await g.current();
    const user = await g.storage.createUser({ userPrincipalName: 'pg@contoso.com', email: 'pg@contoso.com', displayName: 'PG', attributes: {} } as Parameters<typeof inner.createUser>[0]);
    const g1 = await g.current();
    expect(g1).not.toBe(g0);
    // What another instance sees: the value in the database changed.
    expect(await inner.getSetting(PLAN_GENERATION_SETTING)).not.toBeNull();
    await g.storage.getUser(user.id);
    await g.storage.listUsers();
    await g.storage.appendAudit({ transactionId: null, type: 'test', reasonCode: null, actor: 'test', details: {} });
    await g.storage.putSetting('unrelated', 'x');
    expect(await g.current()).toBe(g1);
    await g.storage.updateUser(user.id, { attributes: { department: 'Sales' } } as Parameters<typeof inner.updateUser>[1], new Date().toISOString(), 'unspecified');
    expect(await g.current()).not.toBe(g1);
    await inner.close();
  });

  it('counts an unclassified storage method as a change; reads by name do not', () => {
    expect(bumpsPlanGeneration('someFutureWrite')).toBe(true);
    for (const m of ['createAssignment', 'deleteAssignment', 'updateProfile', 'addGroupMember', 'setGroupUserMembers', 'updateDevice', 'revokeCertificateChain', 'recordEnrollment', 'createExternalUsers']) expect(bumpsPlanGeneration(m), m).toBe(true);
    for (const m of ['getProfile', 'listCertificates', 'groupsOf', 'assignmentsFor', 'appendAudit', 'putPlatformState', 'tryLease', 'enqueueCommand']) expect(bumpsPlanGeneration(m), m).toBe(false);
  });
});
