import { describe, expect, it } from 'vitest';
import { sqlitePlanStore } from '../helpers/sqlite-plans.js';

// Issue 13, paged admin lists at 100,000 devices (migration
// 0019_admin_list_indexes, docs/performance.md "Query plans"): a page must be
// read from an index in the list order and stopped by LIMIT (no SCAN of the
// table, no TEMP B-TREE sort), and a deep page must SEARCH the index at its
// cursor: the cursor written as `a > ? or (a = ? and b > ?)` alone walked
// the index from the first row, so page n cost n pages. SQLite's plan does not
// depend on the row count (no ANALYZE), so an empty store shows it.

const plans = sqlitePlanStore('mdmgw-list-plans-');

/** EXPLAIN QUERY PLAN of the last captured statement matching `pattern`, as one line. */
const planOf = (pattern: RegExp) => plans.planOfLast(pattern, AT);

const AT = '2026-01-01T00:00:00.000Z';
const ID = '00000000-0000-4000-8000-000000000000';

describe('admin list query plans (0019_admin_list_indexes)', () => {
  it('GET /devices: the first page reads devices_page_idx in order; a deep page searches it at the cursor', async () => {
    await plans.storage.listDevicesPage({ limit: 101 });
    const first = planOf(/from "devices" where "deleted_at" is null order by/);
    expect(first).toMatch(/^SCAN devices USING INDEX devices_page_idx$/);
    await plans.storage.listDevicesPage({ limit: 101, after: { createdAt: AT, id: ID } });
    const deep = planOf(/from "devices" where "deleted_at" is null and "created_at" >=/);
    expect(deep).toMatch(/^SEARCH devices USING INDEX devices_page_idx \(created_at>\?\)$/);
  });

  it('GET /users and GET /certificates: a deep page searches the paging index at the cursor, no sort', async () => {
    await plans.storage.listUsersPage({ limit: 101, after: { createdAt: AT, id: ID } });
    expect(planOf(/from "users" where "deleted_at" is null and "created_at" >=/)).toMatch(/^SEARCH users USING INDEX users_page_idx \(created_at>\?\)$/);
    await plans.storage.listCertificates({ limit: 101, after: { issuedAt: AT, serialNumber: 'ab' } });
    const certs = planOf(/from "certificates" where "issued_at" >=/);
    expect(certs).toMatch(/^SEARCH certificates USING INDEX certificates_issued_at_serial_idx \(issued_at>\?\)$/);
  });

  it('GET /audit: an older page searches the primary key or the filter index below the cursor, no sort', async () => {
    await plans.storage.listAudit({ limit: 201, beforeId: 5000 });
    expect(planOf(/from "audit_events" where "id" </)).toMatch(/^SEARCH audit_events USING INTEGER PRIMARY KEY \(rowid<\?\)$/);
    await plans.storage.listAudit({ type: 'admin.device.blocked', limit: 201, beforeId: 5000 });
    expect(planOf(/from "audit_events" where "type" = \? and "id" </)).toMatch(/^SEARCH audit_events USING INDEX audit_events_type_idx \(type=\? AND rowid<\?\)$/);
  });
});
