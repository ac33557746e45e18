import { uuidv7 } from '../../command-id.js';
import { sql } from 'kysely';
import type { CommandStatus, DeviceCommand } from '../../model.js';
import { StorageConflictError } from '../storage.js';
import type { CommandExchange, CommandStore, NewCommand } from '../command-store.js';
import { auditRow } from './audit.js';
import { writeDeliveryStatuses } from './deliveries.js';
import { writePlatformState } from './platform-state.js';
import type { DeviceCommandsTable } from '../schema.js';
import { prepared } from './prepared.js';
import { KyselyStore, Rollback, isForeignKeyViolation, isoTimestamp, type Db } from './support.js';

// The device command queue (adapters): ids are UUIDv7 (core/command-id.ts), so id order is creation order.

export { uuidv7 } from '../../command-id.js';

type Selectable<T> = { [K in keyof T]: T[K] };

function commandOf(r: Selectable<DeviceCommandsTable>): DeviceCommand {
  return {
    id: r.id,
    deviceId: r.device_id,
    channel: r.channel,
    kind: r.kind,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
    profileId: r.profile_id,
    profileVersion: r.profile_version === null ? null : Number(r.profile_version),
    status: r.status as CommandStatus,
    result: r.result === null ? null : (JSON.parse(r.result) as Record<string, unknown>),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function commandRow(c: NewCommand & { id?: string }, now: string) {
  return {
    // An id the caller named (CommandExchange.enqueue), else a new one.
    id: c.id ?? uuidv7(),
    device_id: c.deviceId,
    channel: c.channel,
    kind: c.kind,
    payload: JSON.stringify(c.payload),
    profile_id: c.profileId,
    profile_version: c.profileVersion,
    status: 'queued',
    result: null,
    created_at: now,
    updated_at: now,
  };
}

/** How often nextCommand reads again after another instance changed the chosen command. */
const NEXT_COMMAND_ATTEMPTS = 5;

/** Commands the device has answered for good (or we cancelled): history, purgeable. */
const ANSWERED: readonly CommandStatus[] = ['acknowledged', 'error', 'formaterror', 'cancelled'];

/** The statuses a command is offered again in. */
const OFFERABLE: readonly CommandStatus[] = ['sent', 'queued', 'notnow'];
// The queue read and the take of every check-in, compiled once per store (prepared.ts, issue 13);
// the read that skips ids (an `in` list) is built per call.
const OFFERABLE_COMMANDS = prepared('offerable commands of a device', (db, p: { deviceId: string; channel: string }) =>
  db
    .selectFrom('device_commands')
    .selectAll()
    .where('device_id', '=', p.deviceId)
    .where('channel', '=', p.channel)
    .where('status', 'in', [...OFFERABLE])
    .orderBy('id', 'asc'),
);
const TAKE_COMMAND = prepared('take a command', (db, p: { id: string; status: string; updatedAt: string }) =>
  db
    .updateTable('device_commands')
    .set({ status: 'sent', updated_at: p.updatedAt })
    .where('id', '=', p.id)
    .where('status', '=', p.status as CommandStatus),
);
/** A command's status and result, on its device (the exchange's answer and cancellations). */
const UPDATE_COMMAND = prepared('update command status', (db, p: { id: string; deviceId: string; status: string; result: string | null; updatedAt: string }) =>
  db
    .updateTable('device_commands')
    .set({ status: p.status as CommandStatus, result: p.result, updated_at: p.updatedAt })
    .where('id', '=', p.id)
    .where('device_id', '=', p.deviceId),
);

export class KyselyCommandStore extends KyselyStore implements CommandStore {
  async enqueueCommand(c: NewCommand): Promise<DeviceCommand> {
    const row = commandRow(c, this.stamp());
    try {
      await this.db.insertInto('device_commands').values(row).execute();
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new StorageConflictError(`device ${c.deviceId} not found`, 'not-found');
      throw e;
    }
    return commandOf(row);
  }

  async nextCommand(deviceId: string, channel: string, skip: string[] = []): Promise<DeviceCommand | null> {
    // Another instance may answer or take the chosen command between our read
    // and our write (PostgreSQL's read committed does not stop it): the write is
    // conditional on the status read, and a lost race reads again.
    for (let attempt = 0; attempt < NEXT_COMMAND_ATTEMPTS; attempt++) {
      const taken = await this.#takeNextCommand(deviceId, channel, skip);
      if (taken !== 'raced') return taken;
    }
    throw new StorageConflictError(`the command queue of device ${deviceId} kept changing under us`, 'conflict');
  }

  async #takeNextCommand(deviceId: string, channel: string, skip: string[]): Promise<DeviceCommand | null | 'raced'> {
    return this.db.transaction().execute(async (trx) => {
      const rows = await this.#offerableCommands(trx, deviceId, channel, skip);
      const row = rows.find((r) => r.status === 'sent') ?? rows[0];
      if (!row) return null;
      const now = this.stamp();
      const result = await TAKE_COMMAND.run(this.db, { id: row.id, status: row.status, updatedAt: now }, trx);
      if (Number(result.numAffectedRows ?? 0) === 0) return 'raced';
      return commandOf({ ...row, status: 'sent', updated_at: now });
    });
  }

  /** 'sent' first, then in id order (see #takeNextCommand); without the ids in `skip`. */
  #offerableCommands(trx: Db, deviceId: string, channel: string, skip: string[]) {
    if (!skip.length) return OFFERABLE_COMMANDS.execute(this.db, { deviceId, channel }, trx);
    return trx
      .selectFrom('device_commands')
      .selectAll()
      .where('device_id', '=', deviceId)
      .where('channel', '=', channel)
      .where('status', 'in', [...OFFERABLE])
      .where('id', 'not in', skip)
      .orderBy('id', 'asc')
      .execute();
  }

  async peekNextCommand(deviceId: string, channel: string, skip: string[] = []): Promise<DeviceCommand | null> {
    // A kept Apple Idle only asks whether anything is waiting (issue 13): the read nextCommand makes, without its transaction.
    const rows = await this.#offerableCommands(this.db, deviceId, channel, skip);
    const row = rows.find((r) => r.status === 'sent') ?? rows[0];
    return row ? commandOf(row) : null;
  }

  async recordCommandExchange(x: CommandExchange): Promise<boolean> {
    const stamp = this.stamp();
    const status = (id: string, status: CommandStatus, result: Record<string, unknown> | null) =>
      ({ id, status, result: result === null ? null : JSON.stringify(result), updatedAt: stamp });
    try {
      return await this.db.transaction().execute(async (trx) => {
        // The conditional take first: a lost race writes nothing at all.
        if (x.send) {
          const taken = await TAKE_COMMAND.run(this.db, { id: x.send.id, status: x.send.status, updatedAt: stamp }, trx);
          if (Number(taken.numAffectedRows ?? 0) === 0) throw new Rollback(false);
        }
        const updates = [...(x.answer ? [status(x.answer.id, x.answer.status, x.answer.result)] : []), ...(x.cancel ?? []).map((c) => status(c.id, 'cancelled', c.result))];
        for (const u of updates) await UPDATE_COMMAND.run(this.db, { ...u, deviceId: x.deviceId }, trx);
        if (x.enqueue?.length) await trx.insertInto('device_commands').values(x.enqueue.map((c) => commandRow(c, stamp))).execute();
        if (x.state) await writePlatformState(this.db, x.deviceId, x.state.adapter, x.state.state, stamp, trx);
        if (x.statuses?.length) await writeDeliveryStatuses(trx, x.statuses, stamp);
        if (x.audit?.length) await trx.insertInto('audit_events').values(x.audit.map((e) => auditRow(e, stamp))).execute();
        return true;
      });
    } catch (e) {
      if (e instanceof Rollback) return e.result as boolean;
      if (isForeignKeyViolation(e)) throw new StorageConflictError(`device ${x.deviceId} not found`, 'not-found');
      throw e;
    }
  }

  async updateCommand(id: string, deviceId: string, status: CommandStatus, result: Record<string, unknown> | null): Promise<DeviceCommand | null> {
    const row = await this.db
      .updateTable('device_commands')
      .set({ status, result: result === null ? null : JSON.stringify(result), updated_at: this.stamp() })
      .where('id', '=', id)
      .where('device_id', '=', deviceId)
      .returningAll()
      .executeTakeFirst();
    return row ? commandOf(row) : null;
  }

  async listCommands(filter: { deviceId: string; status?: CommandStatus }): Promise<DeviceCommand[]> {
    let q = this.db.selectFrom('device_commands').selectAll().where('device_id', '=', filter.deviceId);
    if (filter.status) q = q.where('status', '=', filter.status);
    return (await q.orderBy('id', 'asc').execute()).map(commandOf);
  }

  async purgeAnsweredCommands(before: string, keepPerDevice: number): Promise<number> {
    before = isoTimestamp(before, 'before');
    if (!Number.isInteger(keepPerDevice) || keepPerDevice < 0) throw new RangeError(`keepPerDevice must be a non-negative integer, got ${keepPerDevice}`);
    const answered = [...ANSWERED];
    // Beyond the newest `keepPerDevice` answered per device: row_number() works on SQLite (3.25+) and PostgreSQL.
    const ranked = this.db
      .selectFrom('device_commands')
      .select(['id', sql<number>`row_number() over (partition by device_id order by id desc)`.as('rn')])
      .where('status', 'in', answered)
      .as('ranked');
    const result = await this.db
      .deleteFrom('device_commands')
      .where('status', 'in', answered)
      .where((eb) => eb.or([eb('updated_at', '<', before), eb('id', 'in', eb.selectFrom(ranked).select('ranked.id').where('ranked.rn', '>', keepPerDevice))]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
