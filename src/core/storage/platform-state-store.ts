
// Per-device protocol state and gateway settings (adapters).
export interface PlatformStateStore {
  getPlatformState(deviceId: string, adapter: string): Promise<Record<string, unknown> | null>;
  putPlatformState(deviceId: string, adapter: string, state: Record<string, unknown>): Promise<void>;
  getSetting(key: string): Promise<string | null>;
  putSetting(key: string, value: string): Promise<void>;
}
