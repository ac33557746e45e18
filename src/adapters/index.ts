import type { PlatformAdapter } from '../core/adapter.js';
import { androidAdapter } from './android/index.js';
import { createAppleAdapter } from './apple/index.js';
import { windowsAdapter } from './windows/index.js';

/** What the adapters take from the validated configuration (src/config.ts); adapters never read process.env. */
export interface ProductionAdapterOptions {
  apnsUrl?: string;
}

// The adapters `mdmgw serve` mounts. Each serves its device platforms'
// enrollment and check-in routes; the reference adapter is for tests only.
export function productionAdapters(o: ProductionAdapterOptions = {}): PlatformAdapter[] {
  return [windowsAdapter, createAppleAdapter({ ...(o.apnsUrl && { apnsUrl: o.apnsUrl }) }), androidAdapter];
}
