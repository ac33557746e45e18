import type { AdapterServices, PlatformAdapter } from '../../core/adapter.js';
import { renderCertificatePolicy, type CertificatePolicyV1 } from './policy-document.js';
import { androidRoutes } from './routes.js';

// The Android adapter: an agent app (the role Intune's Company Portal plays)
// enrolls with a one-time token, gets a device identity certificate over SCEP,
// fetches a versioned JSON policy, does SCEP itself for each certificate
// policy and reports per-policy results. See docs/android.md.

export const androidAdapter: PlatformAdapter<CertificatePolicyV1> = {
  name: 'android',
  platforms: ['android'],
  render: (_device, delivery) => renderCertificatePolicy(delivery, { action: 'enroll' }),
  enrollmentUrl: (token, publicUrl) => `${publicUrl.replace(/\/+$/, '')}/android/v1/enroll?token=${encodeURIComponent(token)}`,
  routes: (services: AdapterServices) => androidRoutes(services),
};
