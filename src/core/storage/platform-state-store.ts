
// Per-device protocol state and gateway settings (adapters).
export interface PlatformStateStore {
  getPlatformState(deviceId: string, adapter: string): Promise<Record<string, unknown> | null>;
  putPlatformState(deviceId: string, adapter: string, state: Record<string, unknown>): Promise<void>;
  /** The adapter state with its version (version 0 and state null when there is none). */
  getPlatformStateVersioned(deviceId: string, adapter: string): Promise<{ state: Record<string, unknown> | null; version: number }>;
  /** Compare-and-set: writes only if the version is still `expectedVersion` (0: none yet); false on conflict. Across instances (docs/scale-out.md). */
  putPlatformStateIfVersion(deviceId: string, adapter: string, state: Record<string, unknown>, expectedVersion: number): Promise<boolean>;
  getSetting(key: string): Promise<string | null>;
  putSetting(key: string, value: string): Promise<void>;
}
