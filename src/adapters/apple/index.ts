import type { Router } from 'express';
import type { AdapterServices, PlatformAdapter } from '../../core/adapter.js';
import { adminRoutes } from './admin-routes.js';
import { deviceRoutes } from './routes.js';
import { fastIdle } from './fast-idle.js';
import { devicesChanged } from './devices-changed.js';
import type { PlistDict } from './plist-codec.js';
import { DEFAULT_APNS_URL, Pusher } from './pusher.js';
import { renderProfile } from './render.js';
import { pushCertificateHealth } from './health.js';

// The Apple adapter (iOS, iPadOS, macOS): enrollment profile, check-in,
// command queue with signed configuration profiles carrying SCEP and root
// payloads, APNs MDM pushes; an admin change that may change a device's
// profiles is planned at once and pushed (onDevicesChanged). See docs/apple.md.

export interface AppleAdapterOptions {
  /** APNs base URL (validated MDMGW_APNS_URL, passed in by productionAdapters); default https://api.push.apple.com. */
  apnsUrl?: string;
  /** Extra roots to trust for the APNs connection (tests, a private relay). */
  apnsCa?: string | string[];
  /**
   * The adapter's clock (default: the gateway's, AdapterServices.now): renewal timing, push
   * backoff, check-in bookkeeping. An option rather than a global so a test can
   * move one gateway's adapter into a renewal window without touching core.
   */
  now?: () => Date;
}

export function createAppleAdapter(o: AppleAdapterOptions = {}): PlatformAdapter<PlistDict> {
  // One pusher (one APNs connection) per gateway the adapter is mounted in.
  const pushers = new WeakMap<AdapterServices, Pusher>();
  const clockFor = (s: AdapterServices): (() => Date) => o.now ?? (() => s.now());
  const pusherFor = (s: AdapterServices) => {
    let p = pushers.get(s);
    if (!p) {
      p = new Pusher(s, { apnsUrl: o.apnsUrl ?? DEFAULT_APNS_URL, ...(o.apnsCa && { apnsCa: o.apnsCa }), now: clockFor(s) });
      pushers.set(s, p);
    }
    return p;
  };
  return {
    name: 'apple',
    // Retiring: done when the device removes the MDM profile (or checks out), after its profiles.
    retirementConfirmedBy: 'unenrollment',
    platforms: ['ios', 'macos'],
    render: renderProfile,
    enrollmentUrl: (token, publicUrl) => `${publicUrl}/mdm/enroll?token=${encodeURIComponent(token)}`,
    routes: (s): Router => deviceRoutes(s, { pusher: pusherFor(s), now: clockFor(s) }),
    // The device-channel Idle with a kept answer, in front of Express (fast-idle.ts, http/fast-checkins.ts).
    fastCheckins: (s) => [fastIdle(s, clockFor(s))],
    adminRoutes: (s): Router => adminRoutes(s, pusherFor(s), clockFor(s)),
    // Core passes the services it mounted the routes with, so the push goes over the same APNs connection.
    onDevicesChanged: (devices, s) => devicesChanged(s, pusherFor(s), devices, clockFor(s)),
    health: async (s) => [pushCertificateHealth(await pusherFor(s).pushCertificate(), clockFor(s)())],
  };
}

export const appleAdapter: PlatformAdapter<PlistDict> = createAppleAdapter();
