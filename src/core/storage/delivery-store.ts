import type { DeliveryStatus, DeliveryState } from '../model.js';

// Delivery status: what adapters report per device and profile.
export interface DeliveryStore {
  /** Insert or replace the status for (deviceId, profileId); not-found for an unknown device. */
  putDeliveryStatus(s: Omit<DeliveryStatus, 'updatedAt'>): Promise<DeliveryStatus>;
  listDeliveryStatus(filter: { deviceId?: string; profileId?: string }): Promise<DeliveryStatus[]>;
  /** How many (device, profile) pairs are in each state; every state is present (0 when none). */
  countDeliveryStates(): Promise<Record<DeliveryState, number>>;
}
