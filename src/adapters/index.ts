import type { PlatformAdapter } from '../core/adapter.js';
import { androidAdapter } from './android/index.js';
import { appleAdapter } from './apple/index.js';
import { windowsAdapter } from './windows/index.js';

// The adapters `mdmgw serve` mounts. Each serves its device platforms'
// enrollment and check-in routes; the reference adapter is for tests only.
export function productionAdapters(): PlatformAdapter[] {
  return [windowsAdapter, appleAdapter, androidAdapter];
}
