import type { PlanGenerationStore, PlanGenerations } from '../plan-generation-store.js';
import { PLAN_GENERATION_SETTING } from '../plan-generation-store.js';
import { prepared } from './prepared.js';
import { KyselyStore, toNumber } from './support.js';

// The plan generations (plan-generation-store.ts): the global one is a
// setting, each device's a column of its row (0018). Issuance and revocation
// advance a device's column inside their own transactions (issuance.ts,
// revocation.ts); these are for the writes that bump after they committed.

/** Two scalar subqueries in one statement: one round trip per check-in, compiled once (issue 13). */
const PLAN_GENERATIONS = prepared('plan generations (global and device)', (db, p: { deviceId: string }) =>
  db.selectNoFrom((eb) => [
    eb.selectFrom('settings').select('value').where('key', '=', PLAN_GENERATION_SETTING).as('global'),
    eb.selectFrom('devices').select('plan_generation').where('id', '=', p.deviceId).as('device'),
  ]),
);

export class KyselyPlanGenerationStore extends KyselyStore implements PlanGenerationStore {
  async getPlanGenerations(deviceId: string): Promise<PlanGenerations> {
    const row = await PLAN_GENERATIONS.first(this.db, { deviceId });
    if (!row) throw new Error('plan generations: the select without FROM returned no row');
    return { global: row.global ?? null, device: row.device === null || row.device === undefined ? null : toNumber(row.device) };
  }

  async bumpDevicePlanGenerations(deviceIds: readonly string[]): Promise<void> {
    const ids = [...new Set(deviceIds)];
    // In chunks: SQLite and PostgreSQL both cap bound parameters per statement.
    for (let i = 0; i < ids.length; i += 500) {
      await this.db
        .updateTable('devices')
        .set((eb) => ({ plan_generation: eb(eb.ref('plan_generation'), '+', 1) }))
        .where('id', 'in', ids.slice(i, i + 500))
        .execute();
    }
  }

  async bumpUserPlanGenerations(userId: string): Promise<void> {
    await this.db
      .updateTable('devices')
      .set((eb) => ({ plan_generation: eb(eb.ref('plan_generation'), '+', 1) }))
      .where('user_id', '=', userId)
      .execute();
  }
}
