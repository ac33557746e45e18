import type { DeviceCommand, CommandStatus } from '../model.js';

// The device command queue (adapters).
export interface CommandStore {
  enqueueCommand(c: Pick<DeviceCommand, 'deviceId' | 'channel' | 'kind' | 'payload' | 'profileId' | 'profileVersion'>): Promise<DeviceCommand>;
  /**
   * The next command to send on a channel, oldest first, and marks it sent:
   * one already sent but unanswered comes first (one in flight), then queued and
   * NotNow ones. `skip` lists ids not to offer again in this session.
   */
  nextCommand(deviceId: string, channel: string, skip?: string[]): Promise<DeviceCommand | null>;
  /** The command nextCommand would offer now (without `skip`), without taking it: one read, no write, no transaction. */
  peekCommand(deviceId: string, channel: string): Promise<DeviceCommand | null>;
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
