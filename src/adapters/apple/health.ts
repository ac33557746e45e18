import { certificateLifetime, type ComponentHealth } from '../../core/health.js';
import type { PushCertificate } from './push-certificate.js';

// The Apple adapter's part of GET /api/v1/health: the APNs push certificate.
// Without it no Apple device can enroll (the enrollment profile names its
// topic) and none can be pushed; expired, Apple refuses every push and the
// enrolled devices stop receiving commands until it is renewed (same topic).

export const PUSH_CERTIFICATE_COMPONENT = 'apple.push-certificate';

export function pushCertificateHealth(cert: PushCertificate | null, now: Date): ComponentHealth {
  if (!cert) {
    return {
      component: PUSH_CERTIFICATE_COMPONENT,
      status: 'warning',
      message: 'no APNs push certificate: Apple devices cannot enroll until one is uploaded (PUT /api/v1/apple/push-certificate)',
    };
  }
  // Only notAfter is stored with the push certificate (Apple issues it valid from the moment it is made).
  return certificateLifetime(PUSH_CERTIFICATE_COMPONENT, `the APNs push certificate (topic ${cert.topic})`, { notBefore: new Date(0), notAfter: new Date(cert.notAfter) }, now, {
    topic: cert.topic,
    subject: cert.subject,
    serialNumber: cert.serialNumber,
  });
}
