// Check-ins against the gateway process, for a device with 3 assigned
// profiles (issue 13): the Android agent's policy fetch (200 with the
// document, and 304 with If-None-Match) after the first fetch delivered
// and installed the 3 certificates; Windows OMA-DM sessions with nothing
// left to install (windows-checkins.ts: one device, and 64 at once); the
// Apple device's enrollment and first connects that install the 3 profiles,
// then Idle connects with nothing to do (pushes go to the fake APNs, whose CA
// the gateway trusts through NODE_EXTRA_CA_CERTS).
// Driven by the device simulators over HTTP.
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'plist';
import { AndroidAgentSim } from '../../src/sim/android.js';
import { AppleDeviceSim } from '../../src/sim/apple.js';
import { FakeApns, pushCertificate } from '../../src/sim/fake-apns.js';
import { windowsCheckinBench, type WindowsCheckinResults } from './windows-checkins.js';
import { apiOf, startGatewayProcess, type ServerProcess } from './server-process.js';
import { runLoad, type LoadResult } from './load.js';

type Api = (method: string, path: string, body?: unknown) => Promise<any>;

export interface CheckinResults extends WindowsCheckinResults {
  androidFirst: { cpuMs: number; certificates: number };
  androidPolicy: LoadResult;
  androidNotModified: LoadResult;
  /** Several agents, `CONCURRENT_AGENTS` of them, fetching at concurrency 64. */
  androidPolicyC64?: LoadResult;
  androidNotModifiedC64?: LoadResult;
  apple?: AppleCheckinResults | { error: string };
}

export interface AppleCheckinResults {
  /** Enrollment profile + identity SCEP + Authenticate + TokenUpdate (queues the 3 InstallProfile, pushes). */
  enrollCpuMs: number;
  /** The connects that deliver and install the 3 profiles (3 SCEP enrollments included), and the ones after. */
  firstConnectsCpuMs: number;
  certificates: number;
  /** Idle with nothing to do, one device, one connect at a time. */
  idle: LoadResult;
  /** Idle with nothing to do, APPLE_DEVICES devices at concurrency 64. */
  idleC64: LoadResult;
}

/** Agents / Apple devices behind the concurrency-64 runs (each enrolled with its 3 certificates). */
const CONCURRENT_AGENTS = 8;
const APPLE_DEVICES = 4;
export const TOPIC = 'com.apple.mgmt.External.6b0c2a5e-bench-4c7d-9e0f-1a2b3c4d5e6f';

/** The fake APNs and the gateway environment that points the Apple adapter at it. */
export async function appleBenchSetup(): Promise<{ apns: FakeApns; env: Record<string, string> }> {
  const apns = await FakeApns.start();
  const caFile = path.join(tmpdir(), `mdmgw-bench-apns-ca-${process.pid}.pem`);
  await writeFile(caFile, apns.ca.certPem);
  return { apns, env: { MDMGW_APNS_URL: apns.url, NODE_EXTRA_CA_CERTS: caFile } };
}

/**
 * The benches' user, bench@contoso.com, with the 3 device-scope profiles assigned to it. `subject` names the
 * device: by its name, or by its id where several simulators report the same device name (a conflict).
 */
export async function benchUser(api: Api, subject: 'DeviceName' | 'DeviceId' = 'DeviceName'): Promise<{ id: string }> {
  const user = await api('POST', '/users', { userPrincipalName: 'bench@contoso.com', email: 'bench@contoso.com', displayName: 'Bench' });
  for (let i = 1; i <= 3; i++) {
    const p = await api('POST', '/profiles', { name: `bench Wi-Fi ${i}`, scope: 'device', subjectName: `CN={{${subject}}},OU=P${i},O=Bench`, subjectAlternativeNames: [{ type: 'upn', value: '{{UserPrincipalName}}' }] });
    await api('POST', '/assignments', { profileId: p.id, userId: user.id });
  }
  return user;
}

/** The gateway's APNs push certificate, issued by the fake APNs's CA for TOPIC. */
export async function installPushCertificate(api: Api, apns: FakeApns): Promise<void> {
  const push = await pushCertificate(apns.ca, TOPIC);
  await api('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem });
}

export async function checkinBench(url: string, api: Api, cpuMs: () => number, n: number, concurrency: number, apns?: FakeApns): Promise<CheckinResults> {
  const user = await benchUser(api);
  // Android: enroll, first fetch + install (3 SCEP enrollments), then the steady state.
  const tok = await api('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
  const agent = new AndroidAgentSim(url);
  await agent.enroll(tok.enrollmentUrl);
  const c0 = cpuMs();
  const first = await agent.fetchPolicy();
  const installed = await agent.applyPolicy(first.document!);
  const androidFirst = { cpuMs: cpuMs() - c0, certificates: installed.length };
  await agent.fetchPolicy(); // reports settle
  const androidPolicy = await runLoad({ n, concurrency, cpuMs, op: async () => {
    const f = await agent.fetchPolicy();
    if (f.status !== 200) throw new Error(`policy fetch: HTTP ${f.status}`);
  } });
  const androidNotModified = await runLoad({ n, concurrency, cpuMs, op: async () => {
    const f = await agent.fetchPolicy({ conditional: true });
    if (f.status !== 304) throw new Error(`conditional policy fetch: HTTP ${f.status}`);
  } });
  // Concurrency 64 over several agents (a device's own fetches are serialized by the device lock).
  const agents = [agent];
  while (agents.length < CONCURRENT_AGENTS) {
    const a = new AndroidAgentSim(url);
    await a.enroll((await api('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
    await a.applyPolicy((await a.fetchPolicy()).document!);
    await a.fetchPolicy();
    agents.push(a);
  }
  const androidPolicyC64 = await runLoad({ n: n * 2, concurrency: 64, cpuMs, op: async (i) => {
    const f = await agents[i % agents.length]!.fetchPolicy();
    if (f.status !== 200) throw new Error(`policy fetch: HTTP ${f.status}`);
  } });
  const androidNotModifiedC64 = await runLoad({ n: n * 2, concurrency: 64, cpuMs, op: async (i) => {
    const f = await agents[i % agents.length]!.fetchPolicy({ conditional: true });
    if (f.status !== 304) throw new Error(`conditional policy fetch: HTTP ${f.status}`);
  } });

  // Windows: bench/lib/windows-checkins.ts (one device at c=1, then 64 devices at once).
  const windows = await windowsCheckinBench(url, api, cpuMs, { userId: user.id, upn: 'bench@contoso.com', n: Math.ceil(n / 4), devices: 64, expectInstalls: 3 });
  const apple = apns ? await appleCheckinBench(url, api, cpuMs, n, apns, user.id) : undefined;
  return { androidFirst, androidPolicy, androidNotModified, ...windows, androidPolicyC64, androidNotModifiedC64, ...(apple && { apple }) };
}

/** One Apple device enrolled with its 3 profiles installed (the user's assignments from checkinBench). */
export async function enrolledAppleDevice(url: string, api: Api, userId: string, apns: FakeApns): Promise<AppleDeviceSim> {
  const sim = new AppleDeviceSim(url, 'ios');
  await sim.enroll((await api('POST', '/enrollment-tokens', { userId, platform: 'ios' })).enrollmentUrl);
  const pushed = apns.pushes.length;
  for (const r of [await sim.authenticate(), await sim.tokenUpdate()]) if (r.status !== 200) throw new Error(`check-in: HTTP ${r.status} ${await r.text()}`);
  await apns.waitForPushes(pushed + 1, 10_000);
  return sim;
}

/** A prebuilt Idle connect (body and Mdm-Signature made once: the gateway takes a message as often as it is sent). */
export async function idleRequest(sim: AppleDeviceSim): Promise<() => Promise<void>> {
  const body = new Uint8Array(Buffer.from(build({ UDID: sim.udid, Status: 'Idle' }), 'utf8'));
  const headers = { 'content-type': 'application/x-apple-aspen-mdm', 'Mdm-Signature': await sim.sign(body) };
  const serverUrl = sim.enrollment!.mdm.ServerURL as string;
  return async () => {
    const r = await fetch(serverUrl, { method: 'PUT', headers, body });
    const text = await r.text();
    if (r.status !== 200 || text !== '') throw new Error(`Idle: HTTP ${r.status} ${text.slice(0, 100)}`);
  };
}

/** Apple: enrollment and the first connects (installing the 3 profiles of checkinBench's user), then Idle with nothing to do. */
export async function appleCheckinBench(url: string, api: Api, cpuMs: () => number, n: number, apns: FakeApns, userId: string): Promise<AppleCheckinResults | { error: string }> {
  try {
    await installPushCertificate(api, apns);
    let c0 = cpuMs();
    const sim = await enrolledAppleDevice(url, api, userId, apns);
    const enrollCpuMs = cpuMs() - c0;
    c0 = cpuMs();
    const commands = await sim.drain();
    await sim.drain(); // CertificateList/ProfileList follow-ups, if any
    const firstConnectsCpuMs = cpuMs() - c0;
    const certificates = [...sim.installed.values()].filter((p) => p.certificate).length;
    if (certificates !== 3) throw new Error(`the Apple device installed ${certificates} certificates (${commands.length} commands), not 3`);
    const one = await idleRequest(sim);
    await runLoad({ n: 20, concurrency: 1, cpuMs, op: one }); // warm-up
    const idle = await runLoad({ n, concurrency: 1, cpuMs, op: one });
    const idles = [one];
    for (let i = 1; i < APPLE_DEVICES; i++) {
      const other = await enrolledAppleDevice(url, api, userId, apns);
      await other.drain();
      await other.drain();
      idles.push(await idleRequest(other));
    }
    const idleC64 = await runLoad({ n: n * 2, concurrency: 64, cpuMs, op: (i) => idles[i % idles.length]!() });
    return { enrollCpuMs, firstConnectsCpuMs, certificates, idle, idleC64 };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/**
 * The gateway in its own process pointed at a fake APNs, with the bench user and its 3 profiles and the push
 * certificate installed (bench/latency.ts, bench/delivering.ts). `stop` ends both.
 */
export async function appleBenchGateway(subject: 'DeviceName' | 'DeviceId'): Promise<{ gw: ServerProcess & { adminToken: string }; apns: FakeApns; api: Api; user: { id: string }; stop(): Promise<void> }> {
  const { apns, env } = await appleBenchSetup();
  const gw = await startGatewayProcess({ env: { MDMGW_CLIENT_CERT_HEADER: 'X-Client-Cert', MDMGW_LOG_LEVEL: 'info', ...env } });
  const stop = async () => {
    await gw.stop();
    await apns.stop();
  };
  try {
    const api = apiOf(gw);
    const user = await benchUser(api, subject);
    await installPushCertificate(api, apns);
    return { gw, apns, api, user, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
