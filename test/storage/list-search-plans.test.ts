import { describe, expect, it } from 'vitest';
import { sqlitePlanStore } from '../helpers/sqlite-plans.js';

// Issue 13, the admin searches at 100,000 devices (migration
// 0020_list_search_indexes, docs/performance.md "Query plans"): the expiry
// report and the user search must read an index range, not walk the paging
// index filtering every row (users: `like '%q%'`) or sort a not_after range
// in issue order (certificates: TEMP B-TREE FOR ORDER BY). SQLite's plan does
// not depend on the row count (no ANALYZE), so an empty store shows it.

const plans = sqlitePlanStore('mdmgw-search-plans-');

const planOf = (pattern: RegExp, param: unknown) => plans.planOfLast(pattern, param);

const AT = '2026-01-01T00:00:00.000Z';
const ID = '00000000-0000-4000-8000-000000000000';

describe('admin search query plans (0020_list_search_indexes)', () => {
  it('GET /certificates?expiringWithinDays=: a range of certificates_expiry_page_idx in its order, first and deep pages, no sort', async () => {
    const filter = { status: 'valid', asOf: AT, notAfterUntil: '2026-02-01T00:00:00.000Z', order: 'expiry', limit: 101 } as const;
    await plans.storage.listCertificates(filter);
    const first = planOf(/from "certificates" where "not_after" <= \? and "revoked_at" is null and "not_after" >= \? order by "not_after"/, AT);
    expect(first).toMatch(/^SEARCH certificates USING INDEX certificates_expiry_page_idx \(not_after>\? AND not_after<\?\)$/);
    await plans.storage.listCertificates({ ...filter, afterExpiry: { notAfter: AT, serialNumber: 'ab' } });
    const deep = planOf(/and "not_after" >= \? and \("not_after" > \? or "serial_number" > \?\) order by "not_after"/, AT);
    expect(deep).toMatch(/^SEARCH certificates USING INDEX certificates_expiry_page_idx \(not_after>\? AND not_after<\?\)$/);
  });

  it('GET /users?q=: one range of each lower(column) index, or-ed; no walk of the users', async () => {
    await plans.storage.listUsersPage({ limit: 101, prefix: 'User42' });
    const plan = planOf(/from "users" where "deleted_at" is null and \(\(lower\("user_principal_name"\) >= \?/, 'user42');
    for (const index of ['users_upn_prefix_idx', 'users_email_prefix_idx', 'users_display_name_prefix_idx']) expect(plan).toContain(`SEARCH users USING INDEX ${index} (<expr>>? AND <expr><?)`);
    expect(plan).not.toMatch(/SCAN users/);
    await plans.storage.listUsersPage({ limit: 101, prefix: 'User42', after: { createdAt: AT, id: ID } });
    expect(planOf(/lower\("display_name"\) < \?\)\) and "created_at" >= \?/, 'user42')).not.toMatch(/SCAN users/);
  });

  it('GET /groups, /assignments, /profiles: a page walks the (created_at, id) index, a deep page searches it at the cursor; no sort', async () => {
    const after = { createdAt: AT, id: ID };
    await plans.storage.listGroupsPage({ limit: 101 });
    expect(planOf(/from "groups" order by/, AT)).toBe('SCAN groups USING INDEX groups_page_idx');
    await plans.storage.listGroupsPage({ limit: 101, after });
    expect(planOf(/from "groups" where \("groups"."created_at" >=/, AT)).toBe('SEARCH groups USING INDEX groups_page_idx (created_at>?)');
    await plans.storage.listAssignmentsPage({ limit: 101, after });
    expect(planOf(/from "assignments" where \("assignments"."created_at" >=/, AT)).toBe('SEARCH assignments USING INDEX assignments_page_idx (created_at>?)');
    await plans.storage.listAssignmentsPage({ limit: 101, profileId: ID, after });
    expect(planOf(/from "assignments" where "profile_id" = \? and/, AT)).toBe('SEARCH assignments USING INDEX assignments_profile_page_idx (profile_id=? AND created_at>?)');
    await plans.storage.listProfilesPage({ limit: 101, after });
    const profiles = planOf(/from "profiles" as "p" inner join .* and \("p"."created_at" >=/, AT);
    expect(profiles).toMatch(/^SEARCH p USING INDEX profiles_page_idx \(created_at>\?\); SEARCH v USING/);
    expect(profiles).not.toMatch(/TEMP B-TREE/);
  });
});

describe('certificate status lists (0025_revoked_list_index)', () => {
  it('GET /certificates?status=revoked: the partial index of revoked rows in paging order, first and deep pages, no walk past valid rows', async () => {
    await plans.storage.listCertificates({ status: 'revoked', limit: 101 });
    expect(planOf(/from "certificates" where "revoked_at" is not null order by "issued_at"/, AT)).toBe('SCAN certificates USING INDEX certificates_revoked_page_idx');
    await plans.storage.listCertificates({ status: 'revoked', limit: 101, after: { issuedAt: AT, serialNumber: 'ab' } });
    expect(planOf(/where "revoked_at" is not null and "issued_at" >= \?/, AT)).toBe('SEARCH certificates USING INDEX certificates_revoked_page_idx (issued_at>?)');
  });

  it('GET /certificates?status=valid|expired: the partial index of unrevoked rows, whose not_after tells them apart without reading the row', async () => {
    for (const status of ['valid', 'expired'] as const) {
      await plans.storage.listCertificates({ status, asOf: AT, limit: 101 });
      const op = status === 'valid' ? '>=' : '<';
      expect(planOf(new RegExp(`where "revoked_at" is null and "not_after" ${op} \\? order by "issued_at"`), AT), status).toBe('SCAN certificates USING INDEX certificates_unrevoked_page_idx');
      await plans.storage.listCertificates({ status, asOf: AT, limit: 101, after: { issuedAt: AT, serialNumber: 'ab' } });
      expect(planOf(new RegExp(`where "revoked_at" is null and "not_after" ${op} \\? and "issued_at" >= \\?`), AT), status).toBe('SEARCH certificates USING INDEX certificates_unrevoked_page_idx (issued_at>?)');
    }
  });
});

describe('user substring search, a bounded walk (branch scale13)', () => {
  it('GET /users?contains=: the window end from the paging index alone, then its matches as a range of that index; no walk past the window', async () => {
    for (const n of ['a', 'b', 'c']) await plans.storage.createUser({ userPrincipalName: `${n}@example.com`, email: `${n}@example.com`, displayName: n });
    await plans.storage.searchUsersPage({ contains: 'x', examine: 2, limit: 101, after: { createdAt: AT, id: ID } });
    expect(planOf(/select "created_at", "id" from "users" where "created_at" >= \?/, AT)).toBe('SEARCH users USING COVERING INDEX users_page_idx (created_at>?)');
    expect(planOf(/select \* from "users" where "created_at" >= \? .* and "created_at" <= \?/, AT)).toBe('SEARCH users USING INDEX users_page_idx (created_at>? AND created_at<?)');
  });
});
