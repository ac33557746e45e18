import type { AdapterServices, PlatformAdapter } from '../../core/adapter.js';
import { render, type WindowsPayload } from './render.js';
import { fastManagement } from './management.js';
import { PATHS, windowsRoutes } from './routes.js';

// The Windows adapter: MS-MDE2 enrollment and OMA-DM with the
// ClientCertificateInstall CSP (routes.ts). See docs/windows.md.

export { PATHS, windowsRoutes };

export interface WindowsAdapterOptions {
  /** The adapter's clock (default: the gateway's, AdapterServices.now), as createAppleAdapter's `now`. */
  now?: () => Date;
}

export function createWindowsAdapter(o: WindowsAdapterOptions = {}): PlatformAdapter<WindowsPayload> {
  return {
    name: 'windows',
    platforms: ['windows'],
    render,
    enrollmentUrl: (_token, publicUrl) => `${publicUrl}${PATHS.discovery}`,
    routes: (services: AdapterServices) => windowsRoutes(services, o.now ?? (() => services.now())),
    // The OMA-DM message, in front of Express (management.ts, http/fast-checkins.ts).
    fastCheckins: (services: AdapterServices) => [fastManagement(services, o.now ?? (() => services.now()))],
  };
}

export const windowsAdapter: PlatformAdapter<WindowsPayload> = createWindowsAdapter();
