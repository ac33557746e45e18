import type { Transaction } from 'kysely';
import type { DeliveryStatus, DeliveryState } from '../../model.js';
import type { Database } from '../schema.js';
import { DELIVERY_STATES } from '../../model.js';
import { StorageConflictError } from '../storage.js';
import type { DeliveryStore } from '../delivery-store.js';
import { KyselyStore, toNumber, isForeignKeyViolation } from './support.js';
import { auditRow } from './audit.js';
import { putStateIfVersion } from './platform-state.js';

const statusRow = (st: Omit<DeliveryStatus, 'updatedAt'>, stamp: string) => ({
  device_id: st.deviceId,
  profile_id: st.profileId,
  profile_version: st.profileVersion,
  state: st.state,
  thumbprint: st.thumbprint,
  certificate_serial: st.certificateSerial,
  error_code: st.errorCode,
  detail: st.detail,
  updated_at: stamp,
});

/**
 * Delivery statuses and their device.report audit records, inside the caller's
 * transaction (putDeliveryStatuses; the command exchange of kysely/commands.ts).
 */
export async function writeDeliveryStatuses(trx: Transaction<Database>, entries: readonly { status: Omit<DeliveryStatus, 'updatedAt'>; actor: string }[], stamp: string): Promise<DeliveryStatus[]> {
  const stored = entries.map((e) => ({ ...e.status, updatedAt: stamp }));
  if (stored.length === 0) return stored;
  for (const st of stored) {
    const row = statusRow(st, stamp);
    await trx
      .insertInto('delivery_status')
      .values(row)
      .onConflict((oc) => oc.columns(['device_id', 'profile_id']).doUpdateSet({ ...row, device_id: undefined, profile_id: undefined }))
      .execute();
  }
  // One multi-row insert; ids follow the list (as recordEnrollment's trail).
  await trx
    .insertInto('audit_events')
    .values(stored.map((st, i) => auditRow({ transactionId: null, type: 'device.report', reasonCode: null, actor: entries[i]!.actor, details: { ...st } }, stamp)))
    .execute();
  return stored;
}

// Delivery status per (device, profile), as the adapters report it.
export class KyselyDeliveryStore extends KyselyStore implements DeliveryStore {
  async putDeliveryStatuses(entries: readonly { status: Omit<DeliveryStatus, 'updatedAt'>; actor: string }[]): Promise<DeliveryStatus[]> {
    if (entries.length === 0) return [];
    const stamp = this.stamp();
    return this.notFoundAsConflict(entries, () => this.db.transaction().execute((trx) => writeDeliveryStatuses(trx, entries, stamp)));
  }

  async putDeliveryStatusesWithState(
    entries: readonly { status: Omit<DeliveryStatus, 'updatedAt'>; actor: string }[],
    write: { deviceId: string; adapter: string; state: Record<string, unknown>; expectedVersion: number },
  ): Promise<DeliveryStatus[] | null> {
    const stamp = this.stamp();
    return this.notFoundAsConflict(entries, () =>
      this.db.transaction().execute(async (trx) => {
        // The state first: on a conflict nothing else is written (the transaction holds no write).
        if (!(await putStateIfVersion(this.db, trx, { ...write, updatedAt: stamp }))) return null;
        return writeDeliveryStatuses(trx, entries, stamp);
      }),
    );
  }

  /** A foreign-key violation (an unknown device) as StorageConflictError not-found. */
  private async notFoundAsConflict<T>(entries: readonly { status: Pick<DeliveryStatus, 'deviceId'> }[], fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new StorageConflictError(`a device of ${[...new Set(entries.map((x) => x.status.deviceId))].join(', ')} not found`, 'not-found');
      throw e;
    }
  }

  async putDeliveryStatus(st: Omit<DeliveryStatus, 'updatedAt'>): Promise<DeliveryStatus> {
    const row = statusRow(st, this.stamp());
    try {
      await this.db
        .insertInto('delivery_status')
        .values(row)
        .onConflict((oc) => oc.columns(['device_id', 'profile_id']).doUpdateSet({ ...row, device_id: undefined, profile_id: undefined }))
        .execute();
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new StorageConflictError(`device ${st.deviceId} not found`, 'not-found');
      throw e;
    }
    return { ...st, updatedAt: row.updated_at };
  }

  async countDeliveryStates(): Promise<Record<DeliveryState, number>> {
    const rows = await this.db
      .selectFrom('delivery_status')
      .select((eb) => ['state', eb.fn.countAll<number | string | bigint>().as('n')])
      .groupBy('state')
      .execute();
    const counts = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
    for (const r of rows) if ((DELIVERY_STATES as readonly string[]).includes(r.state)) counts[r.state as DeliveryState] = toNumber(r.n);
    return counts;
  }

  async listDeliveryStatus(filter: { deviceId?: string; profileId?: string }): Promise<DeliveryStatus[]> {
    let q = this.db.selectFrom('delivery_status').selectAll();
    if (filter.deviceId !== undefined) q = q.where('device_id', '=', filter.deviceId);
    if (filter.profileId !== undefined) q = q.where('profile_id', '=', filter.profileId);
    const rows = await q.orderBy('updated_at', 'asc').orderBy('profile_id', 'asc').execute();
    return rows.map((r) => ({
      deviceId: r.device_id,
      profileId: r.profile_id,
      profileVersion: toNumber(r.profile_version),
      state: r.state as DeliveryState,
      thumbprint: r.thumbprint,
      certificateSerial: r.certificate_serial,
      errorCode: r.error_code,
      detail: r.detail,
      updatedAt: r.updated_at,
    }));
  }
}
