import type { PlatformAdapter } from '../core/adapter.js';

// The adapters `mdmgw serve` mounts. Platform adapters (windows, apple,
// android) are added here as they land; the reference adapter is for tests.
export function productionAdapters(): PlatformAdapter[] {
  return [];
}
