import type { DeliveryStatus, DeliveryState } from '../model.js';

// Delivery status: what adapters report per device and profile.
export interface DeliveryStore {
  /** Insert or replace the status for (deviceId, profileId); not-found for an unknown device. */
  putDeliveryStatus(s: Omit<DeliveryStatus, 'updatedAt'>): Promise<DeliveryStatus>;
  /**
   * putDeliveryStatus for several, each with its `device.report` audit record
   * (actor as given, details the status as stored), all in one transaction:
   * all written or none (one commit for a message's reports, issue 13).
   */
  putDeliveryStatuses(entries: readonly { status: Omit<DeliveryStatus, 'updatedAt'>; actor: string }[]): Promise<DeliveryStatus[]>;
  /**
   * putDeliveryStatuses and the device's platform state compare-and-set
   * (putPlatformStateIfVersion) in one transaction: null, and nothing
   * written, when the state's version is not `expectedVersion` (a message's
   * reports are written with the state they belong to, or not at all; issue 13).
   */
  putDeliveryStatusesWithState(
    entries: readonly { status: Omit<DeliveryStatus, 'updatedAt'>; actor: string }[],
    write: { deviceId: string; adapter: string; state: Record<string, unknown>; expectedVersion: number },
  ): Promise<DeliveryStatus[] | null>;
  listDeliveryStatus(filter: { deviceId?: string; profileId?: string }): Promise<DeliveryStatus[]>;
  /** How many (device, profile) pairs are in each state; every state is present (0 when none). */
  countDeliveryStates(): Promise<Record<DeliveryState, number>>;
}
