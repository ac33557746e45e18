import type { AuditEvent, DeliveryStatus, DeviceCommand, CommandStatus } from '../model.js';

export type NewCommand = Pick<DeviceCommand, 'deviceId' | 'channel' | 'kind' | 'payload' | 'profileId' | 'profileVersion'>;

/**
 * What one exchange with a device writes about its commands (an Apple connect:
 * the answer to the command it was sent, the next command marked sent), with
 * the adapter state, delivery statuses and audit records that go with it: one
 * transaction, all or nothing (issue 13: 4-6 commits per connect before).
 */
export interface CommandExchange {
  deviceId: string;
  /** The device's answer to a command: its status and kept result (as updateCommand). */
  answer?: { id: string; status: CommandStatus; result: Record<string, unknown> | null };
  /** Commands cancelled (as updateCommand with status 'cancelled'). */
  cancel?: readonly { id: string; result: Record<string, unknown> | null }[];
  /** Commands to queue (as enqueueCommand); `id`: named by the caller (core/command-id.ts uuidv7), else made here. */
  enqueue?: readonly (NewCommand & { id?: string })[];
  /**
   * The command to send, as peekNextCommand read it: marked sent only if it is
   * still in the status read. When it is not (taken or answered meanwhile),
   * nothing of the exchange is written and recordCommandExchange returns false.
   */
  send?: { id: string; status: CommandStatus };
  /** The adapter's device state, written as putPlatformState. */
  state?: { adapter: string; state: Record<string, unknown> };
  /** Delivery statuses, each with its device.report audit record (as putDeliveryStatuses). */
  statuses?: readonly { status: Omit<DeliveryStatus, 'updatedAt'>; actor: string }[];
  /** Further audit records, after the statuses' (as appendAudit). */
  audit?: readonly Omit<AuditEvent, 'id' | 'at'>[];
}

// The device command queue (adapters).
export interface CommandStore {
  enqueueCommand(c: Pick<DeviceCommand, 'deviceId' | 'channel' | 'kind' | 'payload' | 'profileId' | 'profileVersion'>): Promise<DeviceCommand>;
  /**
   * The next command to send on a channel, oldest first, and marks it sent:
   * one already sent but unanswered comes first (one in flight), then queued and
   * NotNow ones. `skip` lists ids not to offer again in this session.
   */
  nextCommand(deviceId: string, channel: string, skip?: string[]): Promise<DeviceCommand | null>;
  /** The command nextCommand would take, without taking it: one read (prepared without `skip`), no write, no transaction. */
  peekNextCommand(deviceId: string, channel: string, skip?: string[]): Promise<DeviceCommand | null>;
  /** Writes a CommandExchange in one transaction; false (and nothing written) when its `send` command was no longer in the status read. */
  recordCommandExchange(x: CommandExchange): Promise<boolean>;
  /** Records the device's answer; null if no such command for that device. */
  updateCommand(id: string, deviceId: string, status: CommandStatus, result: Record<string, unknown> | null): Promise<DeviceCommand | null>;
  listCommands(filter: { deviceId: string; status?: CommandStatus }): Promise<DeviceCommand[]>;
  /**
   * Deletes answered commands (acknowledged, error, formaterror, cancelled) last
   * updated before `before`, and beyond the newest `keepPerDevice` answered ones
   * of each device (newest by id, i.e. creation order). Queued, sent and NotNow
   * commands are never touched. Returns how many were deleted.
   */
  purgeAnsweredCommands(before: string, keepPerDevice: number): Promise<number>;
}
