import { X509Certificate } from 'node:crypto';
import { Router } from 'express';
import { build, parse } from 'plist';
import type { AdapterServices, PlatformAdapter, ReadyDelivery } from '../../src/core/adapter.js';
import type { Delivery } from '../../src/core/delivery.js';
import { renderProfile } from '../../src/adapters/apple/render.js';
import { renderWindows } from '../../src/adapters/windows/render.js';
import { renderCertificatePolicy } from '../../src/adapters/android/render.js';
import type { TestGateway } from './gateway.js';

// The gateway's own deliveries (AdapterServices.deliveriesFor, exactly as the
// gateway wired it for every adapter), rendered by the real Apple and Windows
// renderers, and the trusted roots read back out of those payloads as DER.

export interface PayloadProbe {
  adapter: PlatformAdapter;
  services(): AdapterServices;
}

/** An adapter with no routes of its own: it only keeps the services the gateway hands it. */
export function payloadProbe(): PayloadProbe {
  let services: AdapterServices | null = null;
  return {
    adapter: {
      name: 'probe',
      platforms: ['windows', 'ios', 'android'],
      render: () => null,
      enrollmentUrl: () => '',
      routes: (s) => {
        services = s;
        return Router();
      },
    },
    services: () => {
      if (!services) throw new Error('the probe adapter was not mounted');
      return services;
    },
  };
}

export async function deliveriesOf(t: TestGateway, probe: PayloadProbe, deviceId: string): Promise<Delivery[]> {
  const device = await t.gw.storage.getDevice(deviceId);
  if (!device) throw new Error(`no device ${deviceId}`);
  return probe.services().deliveriesFor(device);
}

/** The DER of every com.apple.security.root payload of the Apple profile, after a round trip through plist XML. */
export async function appleRoots(t: TestGateway, deviceId: string, d: ReadyDelivery): Promise<Uint8Array[]> {
  const device = (await t.gw.storage.getDevice(deviceId))!;
  const xml = build(renderProfile(device, d) as Parameters<typeof build>[0]);
  const profile = parse(xml) as { PayloadContent: Array<{ PayloadType: string; PayloadContent: Uint8Array }> };
  return profile.PayloadContent.filter((p) => p.PayloadType === 'com.apple.security.root').map((p) => new Uint8Array(p.PayloadContent));
}

/** The DER of every RootCATrustedCertificates/Root Add of the Windows payload, checked against the thumbprint in its node name. */
export async function windowsRoots(t: TestGateway, deviceId: string, d: ReadyDelivery): Promise<Uint8Array[]> {
  const device = (await t.gw.storage.getDevice(deviceId))!;
  const payload = renderWindows(device, d, { form: 'modern', mode: 'add' });
  const roots: Uint8Array[] = [];
  for (const c of payload.commands) {
    if (c.cmd !== 'Add' || !('target' in c) || !c.target.includes('/RootCATrustedCertificates/Root/')) continue;
    const der = new Uint8Array(Buffer.from((c as { data: string }).data, 'base64'));
    const thumb = new X509Certificate(der).fingerprint.replace(/:/g, '');
    if (!c.target.includes(`/Root/${thumb}/`)) throw new Error(`Windows root node ${c.target} does not name its certificate's thumbprint ${thumb}`);
    roots.push(der);
  }
  return roots;
}

/** The CAThumbprint the Windows SCEP node is given (the root the device checks GetCACert against). */
export async function windowsCaThumbprint(t: TestGateway, deviceId: string, d: ReadyDelivery): Promise<string | undefined> {
  const device = (await t.gw.storage.getDevice(deviceId))!;
  const payload = renderWindows(device, d, { form: 'modern', mode: 'add' });
  const atomic = payload.commands.find((c) => c.cmd === 'Atomic') as { commands: Array<{ target?: string; data?: string }> } | undefined;
  return atomic?.commands.find((c) => c.target?.endsWith('/CAThumbprint'))?.data;
}

/** The Android agent policy's trustedRoots (DER) and the caFingerprint its SCEP settings check GetCACert against. */
export function androidTrust(d: ReadyDelivery): { roots: Uint8Array[]; caFingerprint: string } {
  const policy = JSON.parse(JSON.stringify(renderCertificatePolicy(d, { action: 'enroll' }))) as { trustedRoots: string[]; scep: { caFingerprint: string } };
  return { roots: policy.trustedRoots.map((b) => new Uint8Array(Buffer.from(b, 'base64'))), caFingerprint: policy.scep.caFingerprint };
}
