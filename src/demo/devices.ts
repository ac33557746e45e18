import { X509Certificate } from 'node:crypto';
import { AndroidAgentSim } from '../sim/android.js';
import { AppleDeviceSim } from '../sim/apple.js';
import { WindowsSimulator } from '../sim/windows.js';
import type { DemoEnvironment } from './environment.js';
import type { Step } from './progress.js';

// One enrollment per platform, each through its own simulator over the
// gateway's real routes: enrollment, check-in, the profile's payload, a key
// generated on the device and the SCEP enrollment, then the device's report.

export interface DemoUser {
  id: string;
  upn: string;
}

/** What one device ended up with: the thumbprint it reports, and the certificate itself when the simulator keeps it. */
export interface DeviceOutcome {
  platform: 'windows' | 'ios' | 'android';
  deviceId: string;
  thumbprint: string;
  certificate: Uint8Array | null;
}

const deviceIdOf = (identity: Uint8Array) => {
  const m = /CN=([0-9a-f-]{36})/.exec(new X509Certificate(identity).subject);
  if (!m) throw new Error('the identity certificate names no device id');
  return m[1]!;
};
const thumbprintOf = (der: Uint8Array) => new X509Certificate(der).fingerprint.replace(/:/g, '');
/** What the gateway says about the device's deliveries, for a failure message: why no certificate came. */
async function deliveryNote(env: DemoEnvironment, deviceId: string): Promise<string> {
  const ds = (await env.admin.ok('GET', `/devices/${deviceId}/deliveries`).catch(() => [])) as { state: string; errorCode: string | null; detail: string | null }[];
  if (ds.length === 0) return 'the gateway has no delivery for this device';
  return ds.map((d) => `delivery ${d.state}${d.errorCode ? ` ${d.errorCode}` : ''}${d.detail ? `: ${d.detail}` : ''}`).join('; ');
}

const token = (env: DemoEnvironment, user: DemoUser, platform: string) =>
  env.admin.ok('POST', '/enrollment-tokens', { userId: user.id, platform }) as Promise<{ token: string; enrollmentUrl: string }>;

export async function windowsDevice(env: DemoEnvironment, step: Step, user: DemoUser): Promise<DeviceOutcome> {
  const s = 'windows';
  const tok = await step(s, 'enrollment token for the user', () => token(env, user, 'windows'));
  const sim = new WindowsSimulator({ baseUrl: env.url, upn: user.upn, password: tok.token });
  await step(s, 'discovery, policies and enrollment (MS-MDE2), identity key generated on the device', async () => {
    const r = await sim.enroll();
    if (r.fault) throw new Error(`SOAP fault ${r.fault.subcode}: ${r.fault.reason}`);
    if (!sim.identity) throw new Error(`no identity certificate (HTTP ${r.status})`);
  }, () => `device ${deviceIdOf(sim.identity!)}`);
  const deviceId = deviceIdOf(sim.identity!);
  const enrolled = await step(s, 'OMA-DM check-in: ClientCertificateInstall payload, key generated, SCEP enrollment', async () => {
    const log = await sim.session();
    const e = log.enrolled[0];
    if (!e) throw new Error(`the session carried no SCEP install for the Wi-Fi profile (${await deliveryNote(env, deviceId)})`);
    if (e.status !== 1 || !e.thumbprint) throw new Error(`the device's SCEP node reports status ${e.status}, error ${e.errorCode ?? 'none'}`);
    return e;
  });
  await step(s, 'OMA-DM check-in: the device reports the installed certificate', () => sim.session());
  return { platform: 'windows', deviceId, thumbprint: enrolled.thumbprint!, certificate: null };
}

export async function appleDevice(env: DemoEnvironment, step: Step, user: DemoUser): Promise<DeviceOutcome> {
  const s = 'ios';
  const tok = await step(s, 'enrollment token for the user', () => token(env, user, 'ios'));
  const sim = new AppleDeviceSim(env.url, 'ios');
  await step(s, 'signed enrollment profile verified, identity key generated, SCEP enrollment', () => sim.enroll(tok.enrollmentUrl), () => `device ${deviceIdOf(sim.identity!.certificate)}`);
  const deviceId = deviceIdOf(sim.identity!.certificate);
  const pushesBefore = env.apns.pushes.length;
  await step(s, 'check-in: Authenticate and TokenUpdate', async () => {
    for (const [what, r] of [['Authenticate', await sim.authenticate()], ['TokenUpdate', await sim.tokenUpdate()]] as const) {
      if (r.status !== 200) throw new Error(`${what}: HTTP ${r.status} ${await r.text()}`);
    }
  });
  const path = `/3/device/${sim.token.toString('hex')}`;
  await step(s, 'push received by the simulated APNs', async () => {
    const until = Date.now() + 15_000;
    while (!env.apns.pushes.slice(pushesBefore).some((p) => p.path === path)) {
      if (Date.now() > until) throw new Error(`no push for this device within 15 s (${await deliveryNote(env, deviceId)})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  const installed = await step(s, 'woken by the push: InstallProfile, key generated, SCEP enrollment', async () => {
    const commands = await sim.drain();
    const withCert = [...sim.installed.values()].find((p) => p.certificate);
    if (!withCert) throw new Error(`no certificate installed; commands seen: ${commands.map((c) => c.Command.RequestType).join(', ') || 'none'} (${await deliveryNote(env, deviceId)})`);
    return withCert.certificate!;
  });
  return { platform: 'ios', deviceId, thumbprint: thumbprintOf(installed), certificate: installed };
}

export async function androidDevice(env: DemoEnvironment, step: Step, user: DemoUser): Promise<DeviceOutcome> {
  const s = 'android';
  const tok = await step(s, 'enrollment token for the user', () => token(env, user, 'android'));
  const agent = new AndroidAgentSim(env.url);
  await step(s, 'agent enrollment, identity key generated, SCEP enrollment', () => agent.enroll(tok.enrollmentUrl), (a) => `device ${a.deviceId}`);
  const doc = await step(s, 'check-in: policy document fetched', async () => {
    const f = await agent.fetchPolicy();
    if (f.status !== 200 || !f.document) throw new Error(`policy: HTTP ${f.status}`);
    if (f.document.policies.length === 0) throw new Error(`the policy carries no certificate policy (${await deliveryNote(env, agent.deviceId!)})`);
    return f.document;
  });
  const [installed] = await step(s, 'key generated in the KeyChain, SCEP enrollment, installed reported', () => agent.applyPolicy(doc));
  if (!installed) throw new Error('android: no certificate installed');
  return { platform: 'android', deviceId: agent.deviceId!, thumbprint: installed.thumbprint, certificate: installed.certificate };
}
