import { randomUUID } from 'node:crypto';
import type { Profile, ProfileSpec } from '../../model.js';
import type { ProfileStore } from '../profile-store.js';
import { KyselyStore, toNumber, type Db } from './support.js';
import { rowToProfile } from './rows.js';
import { prepared } from './prepared.js';
import { afterCreated, checkPageLimit } from './created-order.js';
import type { CreatedPageQuery } from '../storage.js';

// Versioned profiles. deleteProfile also removes the profile's assignments in
// its transaction (an assignment of a deleted profile must not outlive it).

/** The spec as stored: any Profile-only fields a caller passed along are dropped. */
function specJson(spec: ProfileSpec): string {
  const { id: _id, version: _version, createdAt: _c, updatedAt: _u, ...rest } = spec as ProfileSpec &
    Partial<Pick<Profile, 'id' | 'version' | 'createdAt' | 'updatedAt'>>;
  return JSON.stringify(rest);
}

/** A profile's current version, unless deleted (getProfile without a version). */
const CURRENT_PROFILE = prepared('current profile version', (db, p: { id: string }) =>
  db
    .selectFrom('profiles as p')
    .innerJoin('profile_versions as v', 'v.profile_id', 'p.id')
    .select(['p.id as id', 'p.created_at as created_at', 'v.version as version', 'v.spec as spec', 'v.created_at as version_created_at'])
    .where('p.id', '=', p.id)
    .whereRef('v.version', '=', 'p.current_version')
    .where('p.deleted_at', 'is', null),
);

export class KyselyProfileStore extends KyselyStore implements ProfileStore {
  #profileQuery(db: Db) {
    return db
      .selectFrom('profiles as p')
      .innerJoin('profile_versions as v', 'v.profile_id', 'p.id')
      .select(['p.id as id', 'p.created_at as created_at', 'v.version as version', 'v.spec as spec', 'v.created_at as version_created_at']);
  }

  async createProfile(spec: ProfileSpec): Promise<Profile> {
    const id = randomUUID();
    const now = this.stamp();
    const json = specJson(spec);
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('profiles')
        .values({ id, current_version: 1, deleted_at: null, created_at: now, updated_at: now })
        .execute();
      await trx.insertInto('profile_versions').values({ profile_id: id, version: 1, spec: json, created_at: now }).execute();
    });
    return rowToProfile({ id, created_at: now, version: 1, spec: json, version_created_at: now });
  }

  async updateProfile(id: string, spec: ProfileSpec): Promise<Profile | null> {
    const now = this.stamp();
    const json = specJson(spec);
    return this.db.transaction().execute(async (trx) => {
      // The UPDATE takes the row's write lock first, so concurrent updates of one
      // profile serialise and each gets its own version number.
      const bumped = await trx
        .updateTable('profiles')
        .set((eb) => ({ current_version: eb('current_version', '+', 1), updated_at: now }))
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .returning(['current_version', 'created_at'])
        .executeTakeFirst();
      if (!bumped) return null;
      const version = toNumber(bumped.current_version);
      await trx.insertInto('profile_versions').values({ profile_id: id, version, spec: json, created_at: now }).execute();
      return rowToProfile({ id, created_at: bumped.created_at, version, spec: json, version_created_at: now });
    });
  }

  async getProfile(id: string, version?: number): Promise<Profile | null> {
    // The current version: read on every enrollment and check-in, so compiled once (prepared.ts).
    if (version === undefined) {
      const current = await CURRENT_PROFILE.first(this.db, { id });
      return current ? rowToProfile(current) : null;
    }
    let q = this.#profileQuery(this.db).where('p.id', '=', id);
    q =
      version === undefined
        ? q.whereRef('v.version', '=', 'p.current_version').where('p.deleted_at', 'is', null)
        : q.where('v.version', '=', version);
    const row = await q.executeTakeFirst();
    return row ? rowToProfile(row) : null;
  }

  async listProfiles(): Promise<Profile[]> {
    const rows = await this.#profileQuery(this.db)
      .whereRef('v.version', '=', 'p.current_version')
      .where('p.deleted_at', 'is', null)
      .orderBy('p.created_at')
      .orderBy('p.id')
      .execute();
    return rows.map(rowToProfile);
  }

  /** Keyset paging on profiles_page_idx (created_at, id), migration 0020; each row joins its current version. */
  async listProfilesPage(q: CreatedPageQuery): Promise<Profile[]> {
    checkPageLimit(q.limit, 'profile');
    let query = this.#profileQuery(this.db).whereRef('v.version', '=', 'p.current_version').where('p.deleted_at', 'is', null);
    if (q.after !== undefined) query = query.where(afterCreated('p', q.after));
    const rows = await query.orderBy('p.created_at').orderBy('p.id').limit(q.limit).execute();
    return rows.map(rowToProfile);
  }

  async getProfiles(ids: readonly string[]): Promise<Profile[]> {
    const wanted = [...new Set(ids)];
    if (wanted.length === 0) return [];
    const byId = new Map<string, Profile>();
    // In chunks: SQLite and PostgreSQL both cap bound parameters per statement.
    for (let i = 0; i < wanted.length; i += 500) {
      const rows = await this.#profileQuery(this.db)
        .where('p.id', 'in', wanted.slice(i, i + 500))
        .whereRef('v.version', '=', 'p.current_version')
        .where('p.deleted_at', 'is', null)
        .execute();
      for (const row of rows) byId.set(row.id, rowToProfile(row));
    }
    return wanted.flatMap((id) => byId.get(id) ?? []);
  }

  async deleteProfile(id: string): Promise<boolean> {
    const now = this.stamp();
    return this.db.transaction().execute(async (trx) => {
      const deleted = await trx
        .updateTable('profiles')
        .set({ deleted_at: now, updated_at: now })
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (Number(deleted.numUpdatedRows) === 0) return false;
      await trx.deleteFrom('assignments').where('profile_id', '=', id).execute();
      return true;
    });
  }
}
