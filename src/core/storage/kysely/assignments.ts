import { randomUUID } from 'node:crypto';
import type { Assignment, AssignmentTarget } from '../../model.js';
import { StorageConflictError } from '../storage.js';
import type { AssignmentStore } from '../assignment-store.js';
import type { AssignmentRow, TargetKind } from '../schema.js';
import { KyselyStore, isForeignKeyViolation, isUniqueViolation } from './support.js';
import { targetOf, rowToAssignment } from './rows.js';
import { prepared } from './prepared.js';
import { afterCreated, checkPageLimit } from './created-order.js';
import type { CreatedPageQuery } from '../storage.js';

/**
 * One EXISTS per way a profile applies (core/assignments.ts), each served by
 * the unique (profile_id, target_kind, target_id) index and the group-member
 * indexes: no scan of a profile's assignments, however many it has.
 */
const PROFILE_ASSIGNED = prepared('profile assigned to a device or user', (db, p: { profileId: string; deviceId: string | null; userId: string | null }) =>
  db.selectNoFrom((eb) => {
    const direct = (kind: TargetKind, id: string | null) =>
      eb.exists(eb.selectFrom('assignments').select('id').where('profile_id', '=', p.profileId).where('target_kind', '=', kind).where('target_id', '=', id as string));
    const viaGroup = (member: 'device_id' | 'user_id', id: string | null) =>
      eb.exists(
        eb
          .selectFrom('group_members as gm')
          .innerJoin('assignments as a', 'a.target_id', 'gm.group_id')
          .select('a.id')
          .where(`gm.${member}`, '=', id as string)
          .where('a.profile_id', '=', p.profileId)
          .where('a.target_kind', '=', 'group'),
      );
    return eb.or([direct('device', p.deviceId), viaGroup('device_id', p.deviceId), direct('user', p.userId), viaGroup('user_id', p.userId)]).as('assigned');
  }),
);

// Assignments of profiles to users, devices and groups; creation checks the
// profile and target exist in the same transaction as the insert.
export class KyselyAssignmentStore extends KyselyStore implements AssignmentStore {
  async createAssignment(profileId: string, target: AssignmentTarget): Promise<Assignment> {
    const t = targetOf(target);
    const row: AssignmentRow = {
      id: randomUUID(),
      profile_id: profileId,
      target_kind: t.kind,
      target_id: t.id,
      created_at: this.stamp(),
    };
    await this.db.transaction().execute(async (trx) => {
      const profile = await trx
        .selectFrom('profiles')
        .select('id')
        .where('id', '=', profileId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (!profile) throw new StorageConflictError(`unknown profile ${profileId}`, 'not-found');
      const found =
        t.kind === 'group'
          ? await trx.selectFrom('groups').select('id').where('id', '=', t.id).executeTakeFirst()
          : await trx
              .selectFrom(t.kind === 'user' ? 'users' : 'devices')
              .select('id')
              .where('id', '=', t.id)
              .where('deleted_at', 'is', null)
              .executeTakeFirst();
      if (!found) throw new StorageConflictError(`unknown ${t.kind} ${t.id}`, 'not-found');
      try {
        await trx.insertInto('assignments').values(row).execute();
      } catch (e) {
        if (isUniqueViolation(e)) {
          throw new StorageConflictError(`profile ${profileId} is already assigned to ${t.kind} ${t.id}`, 'conflict');
        }
        if (isForeignKeyViolation(e)) throw new StorageConflictError(`unknown profile ${profileId}`, 'not-found');
        throw e;
      }
    });
    return rowToAssignment(row);
  }

  async listAssignments(filter?: { profileId?: string }): Promise<Assignment[]> {
    let q = this.db.selectFrom('assignments').selectAll();
    if (filter?.profileId !== undefined) q = q.where('profile_id', '=', filter.profileId);
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map(rowToAssignment);
  }

  /** Keyset paging on assignments_page_idx / assignments_profile_page_idx (migration 0020). */
  async listAssignmentsPage(q: CreatedPageQuery & { profileId?: string }): Promise<Assignment[]> {
    checkPageLimit(q.limit, 'assignment');
    let query = this.db.selectFrom('assignments').selectAll();
    if (q.profileId !== undefined) query = query.where('profile_id', '=', q.profileId);
    if (q.after !== undefined) query = query.where(afterCreated('assignments', q.after));
    const rows = await query.orderBy('created_at').orderBy('id').limit(q.limit).execute();
    return rows.map(rowToAssignment);
  }

  async deleteAssignment(id: string): Promise<Assignment | null> {
    const row = await this.db.deleteFrom('assignments').where('id', '=', id).returningAll().executeTakeFirst();
    return row ? rowToAssignment(row) : null;
  }

  async assignmentsFor(targets: AssignmentTarget[]): Promise<Assignment[]> {
    const byKind = new Map<TargetKind, Set<string>>();
    for (const target of targets) {
      const t = targetOf(target);
      let ids = byKind.get(t.kind);
      if (!ids) byKind.set(t.kind, (ids = new Set()));
      ids.add(t.id);
    }
    if (byKind.size === 0) return [];
    const rows = await this.db
      .selectFrom('assignments')
      .selectAll()
      .where((eb) =>
        eb.or(
          [...byKind].map(([kind, ids]) => eb.and([eb('target_kind', '=', kind), eb('target_id', 'in', [...ids])])),
        ),
      )
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(rowToAssignment);
  }

  async isProfileAssigned(profileId: string, to: { deviceId: string | null; userId: string | null }): Promise<boolean> {
    if (to.deviceId === null && to.userId === null) return false;
    const row = await PROFILE_ASSIGNED.first(this.db, { profileId, deviceId: to.deviceId, userId: to.userId });
    // SQLite answers 0/1, PostgreSQL a boolean.
    return Number(row?.assigned ?? 0) === 1;
  }
}
