import { X509Certificate } from 'node:crypto';
import { expect } from 'vitest';
import { WindowsSimulator } from '../../src/sim/windows.js';
import type { TestGateway } from './gateway.js';

/**
 * A user with `profiles` device profiles assigned (subjects
 * `CN={{DeviceName}},OU=<label><i>,O=<label>`) and a Windows simulator
 * enrolled for that user, before its first OMA-DM session.
 */
export async function enrolledWindowsDevice(t: TestGateway, o: { upn: string; label: string; profiles?: number }): Promise<{ sim: WindowsSimulator; deviceId: string }> {
  const user = await t.api.ok('POST', '/users', { userPrincipalName: o.upn, email: o.upn, displayName: o.label });
  for (let i = 1; i <= (o.profiles ?? 3); i++) {
    const p = await t.api.ok('POST', '/profiles', { name: `${o.label} ${i}`, scope: 'device', subjectName: `CN={{DeviceName}},OU=${o.label}${i},O=${o.label}`, scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: p.id, userId: user.id });
  }
  const token = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
  const sim = new WindowsSimulator({ baseUrl: t.url, upn: o.upn, password: token.token });
  expect((await sim.enroll()).fault).toBeUndefined();
  const deviceId = new X509Certificate(sim.identity!).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
  return { sim, deviceId };
}
