import type { AdapterServices, PlatformAdapter } from '../../core/adapter.js';
import { PLATFORMS, type Platform } from '../../core/model.js';
import { renderReference, type ReferencePayload } from './render.js';
import { referenceRoutes } from './routes.js';

// The canonical adapter skeleton: copy this folder to start a new platform
// (docs/adapters.md walks through it). Every adapter has this file set:
//   index.ts        createXAdapter({ now, ... }): the PlatformAdapter
//   routes.ts       device-facing routes (enrollment, check-in, report)
//   admin-routes.ts admin routes under /api/v1, where the platform needs any
//   render.ts       pure: one ready delivery -> the platform payload (golden-tested)
//   state.ts        per-device protocol state, read defensively
//   error-codes.ts  refusals -> the platform's errors
// and uses the kit (AdapterServices) for device authentication, token
// redemption, renewal timing and signing. It reads no process.env: options
// come from the factory, which src/adapters/index.ts fills from the config.

export interface ReferenceAdapterOptions {
  /** The adapter's clock (default: the gateway's, AdapterServices.now). */
  now?: () => Date;
  /** Registration name: URL prefix, state and settings scope (default `reference`). */
  name?: string;
  /** Device platforms served (default: all; a copy serves its own). */
  platforms?: readonly Platform[];
}

export function createReferenceAdapter(o: ReferenceAdapterOptions = {}): PlatformAdapter<ReferencePayload> {
  const name = o.name ?? 'reference';
  const platforms = o.platforms ?? PLATFORMS;
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(name)) throw new Error(`adapter name "${name}": lowercase letters, digits and "-", 32 at most`);
  return {
    name,
    platforms,
    render: renderReference,
    // The enroll route takes the token from the query, so this URL is what the device POSTs to.
    enrollmentUrl: (token, publicUrl) => `${publicUrl}/${name}/v1/enroll?token=${encodeURIComponent(token)}`,
    routes: (s: AdapterServices) => referenceRoutes(s, { name, platforms, now: o.now ?? (() => s.now()) }),
  };
}

export const referenceAdapter: PlatformAdapter<ReferencePayload> = createReferenceAdapter();
