import type { AdapterServices } from '../../core/adapter.js';

// The adapter's per-device protocol state (AdapterServices.state, scoped to
// the adapter's name). Stored as JSON the adapter wrote, but read defensively:
// a row from an older version, or one another version of this code wrote,
// falls back to the defaults instead of throwing in a device's request.

export interface ReferenceState {
  /** When the device last fetched its payload (ISO), by the adapter's clock. */
  lastCheckinAt: string | null;
  /** How many check-ins the device made. */
  checkins: number;
}

const EMPTY: ReferenceState = { lastCheckinAt: null, checkins: 0 };

export function readState(raw: Record<string, unknown> | null): ReferenceState {
  if (!raw) return { ...EMPTY };
  return {
    lastCheckinAt: typeof raw.lastCheckinAt === 'string' ? raw.lastCheckinAt : null,
    checkins: typeof raw.checkins === 'number' && Number.isSafeInteger(raw.checkins) && raw.checkins >= 0 ? raw.checkins : 0,
  };
}

export async function loadState(s: AdapterServices, deviceId: string): Promise<ReferenceState> {
  return readState(await s.state.get(deviceId));
}

export async function saveState(s: AdapterServices, deviceId: string, state: ReferenceState): Promise<void> {
  await s.state.put(deviceId, { ...state });
}
