import type { AdapterServices, PlatformAdapter } from '../../core/adapter.js';
import { renderCertificatePolicy, type CertificatePolicyV1 } from './render.js';
import { androidRoutes } from './routes.js';
import { fastPolicyFetch } from './policy-fetch.js';

// The Android adapter: an agent app (the role Intune's Company Portal plays)
// enrolls with a one-time token, gets a device identity certificate over SCEP,
// fetches a versioned JSON policy, does SCEP itself for each certificate
// policy and reports per-policy results. See docs/android.md.

export interface AndroidAdapterOptions {
  /** The adapter's clock (default: the gateway's, AdapterServices.now), as the other adapters' `now`. */
  now?: () => Date;
}

export function createAndroidAdapter(o: AndroidAdapterOptions = {}): PlatformAdapter<CertificatePolicyV1> {
  return {
    name: 'android',
    platforms: ['android'],
    render: (_device, delivery) => renderCertificatePolicy(delivery, { action: 'enroll' }),
    enrollmentUrl: (token, publicUrl) => `${publicUrl.replace(/\/+$/, '')}/android/v1/enroll?token=${encodeURIComponent(token)}`,
    routes: (services: AdapterServices) => androidRoutes(services, o.now ?? (() => services.now())),
    // The policy fetch with a kept answer, in front of Express (policy-fetch.ts, http/fast-checkins.ts).
    fastCheckins: (services: AdapterServices) => [fastPolicyFetch(services, o.now ?? (() => services.now()), ['android'])],
  };
}

export const androidAdapter: PlatformAdapter<CertificatePolicyV1> = createAndroidAdapter();
