// The check-in that delivers a device's 3 profiles (issue 13 target: "at most
// 3 ms plus the signatures it needs"), measured apart from the SCEP
// enrollments that follow it: gateway CPU (from /proc) is read just before
// and just after the delivering messages, never across a SCEP request.
// - Android: the first policy fetch after enrollment (3 `enroll` policies,
//   each with its challenge).
// - Apple: the TokenUpdate that plans and queues the 3 InstallProfile
//   commands, and the connects that fetch them (Idle, then each answer); the
//   simulator's SCEP enrollment between two connects is outside the windows.
// - Windows: the first OMA-DM session after enrollment (Alert 1201, our 3
//   Atomic Add + Exec installs with their challenges; the device's statuses,
//   our closing Status): each message's exchange is a window; the 3 SCEP
//   enrollments the simulator makes after the session are outside them.
// `cpu` reads the gateway's CPU: /proc in 10 ms ticks (ServerProcess.cpuMs),
// or the gateway's own process.cpuUsage() through /metrics (bench/delivering.ts
// --precise: microseconds, less what the reading itself costs, `cpu.offset`).
// Means and medians are given: a window a major GC falls in costs several
// times the others.
import { AndroidAgentSim } from '../../src/sim/android.js';
import { AppleDeviceSim } from '../../src/sim/apple.js';
import { WindowsSimulator } from '../../src/sim/windows.js';
import type { FakeApns } from '../../src/sim/fake-apns.js';

type Api = (method: string, path: string, body?: unknown) => Promise<any>;

/** A gateway CPU reader (ms) and what one reading adds between two readings with nothing between them. */
export interface CpuReader {
  read(): number | Promise<number>;
  offset: number;
}

export interface DeliveringResults {
  devices: number;
  /** Gateway CPU ms per delivering Android policy fetch. */
  androidFetchCpuMs: number;
  /** The median of those (a window with a major GC in it is not typical). */
  androidFetchMedianMs: number;
  /** Medians of the Apple TokenUpdate and of the 4 connects per device. */
  appleTokenUpdateMedianMs?: number;
  appleConnectsMedianMs?: number;
  /** Gateway CPU ms per Apple TokenUpdate (plans and queues the 3 InstallProfile commands). */
  appleTokenUpdateCpuMs?: number;
  /** Gateway CPU ms per Apple device for the connects that fetch the 3 commands (Idle + the answers), SCEP excluded. */
  appleConnectsCpuMs?: number;
  /** Connects per Apple device in that window. */
  appleConnects?: number;
  /** Gateway CPU ms per Windows device for the OMA-DM messages of its first session (the 3 installs), SCEP excluded; and their median. */
  windowsSessionCpuMs?: number;
  windowsSessionMedianMs?: number;
  /** OMA-DM messages in that session. */
  windowsMessages?: number;
}

const mean = (x: readonly number[]) => x.reduce((a, b) => a + b, 0) / x.length;
const median = (x: readonly number[]) => {
  const s = [...x].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function deliveringBench(api: Api, cpu: CpuReader, userId: string, devices: number, url: string, apns?: FakeApns): Promise<DeliveringResults> {
  /** The gateway CPU `run` took. */
  const timed = async <T,>(run: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const c0 = await cpu.read();
    const value = await run();
    return { value, ms: (await cpu.read()) - c0 - cpu.offset };
  };
  const android: number[] = [];
  for (let i = 0; i < devices; i++) {
    const agent = new AndroidAgentSim(url);
    await agent.enroll((await api('POST', '/enrollment-tokens', { userId, platform: 'android' })).enrollmentUrl);
    const { value: first, ms } = await timed(() => agent.fetchPolicy());
    android.push(ms);
    const enroll = first.document?.policies.filter((p) => p.action === 'enroll').length;
    if (enroll !== 3) throw new Error(`the delivering fetch carried ${enroll} policies to enroll, not 3: HTTP ${first.status} ${JSON.stringify(first.body).slice(0, 300)}`);
  }
  const results: DeliveringResults = { devices, androidFetchCpuMs: mean(android), androidFetchMedianMs: median(android), ...(await windowsDelivering(api, timed, userId, devices, url)) };
  if (!apns) return results;
  const tokenUpdate: number[] = [];
  const connects: number[] = [];
  let connectCount = 0;
  for (let i = 0; i < devices; i++) {
    const sim = new AppleDeviceSim(url, 'ios');
    await sim.enroll((await api('POST', '/enrollment-tokens', { userId, platform: 'ios' })).enrollmentUrl);
    if ((await sim.authenticate()).status !== 200) throw new Error('Authenticate refused');
    const { value: r, ms } = await timed(() => sim.tokenUpdate());
    tokenUpdate.push(ms);
    if (r.status !== 200) throw new Error(`TokenUpdate: HTTP ${r.status}`);
    let installs = 0;
    const idle = await timed(() => sim.connect({ Status: 'Idle' }));
    let cmd = idle.value;
    let device = idle.ms;
    connectCount += 1;
    while (cmd) {
      if ((cmd.Command as { RequestType?: string }).RequestType === 'InstallProfile') installs += 1;
      const answer = await sim.execute(cmd); // the SCEP enrollment: not counted
      const reply = { CommandUUID: cmd.CommandUUID, ...answer };
      const next = await timed(() => sim.connect(reply));
      cmd = next.value;
      device += next.ms;
      connectCount += 1;
    }
    connects.push(device);
    if (installs !== 3) throw new Error(`the Apple device got ${installs} InstallProfile commands, not 3`);
  }
  return {
    ...results,
    appleTokenUpdateCpuMs: mean(tokenUpdate),
    appleTokenUpdateMedianMs: median(tokenUpdate),
    appleConnectsCpuMs: mean(connects),
    appleConnectsMedianMs: median(connects),
    appleConnects: connectCount / devices,
  };
}

/** The first OMA-DM session of `devices` Windows devices: each message's exchange timed, the SCEP enrollments after it not. */
async function windowsDelivering(
  api: Api,
  timed: <T>(run: () => Promise<T>) => Promise<{ value: T; ms: number }>,
  userId: string,
  devices: number,
  url: string,
): Promise<Pick<DeliveringResults, 'windowsSessionCpuMs' | 'windowsSessionMedianMs' | 'windowsMessages'>> {
  const sessions: number[] = [];
  let messages = 0;
  const user = await api('GET', `/users/${userId}`);
  for (let i = 0; i < devices; i++) {
    const token = await api('POST', '/enrollment-tokens', { userId, platform: 'windows' });
    const sim = new WindowsSimulator({ baseUrl: url, upn: user.userPrincipalName, password: token.token });
    const e = await sim.enroll();
    if (e.fault || !sim.identity) throw new Error(`Windows enrollment: ${e.fault?.reason ?? `HTTP ${e.status}`}`);
    let ms = 0;
    const post = sim.post.bind(sim);
    sim.post = async (xml, headers) => {
      const r = await timed(() => post(xml, headers));
      ms += r.ms;
      messages += 1;
      return r.value;
    };
    const log = await sim.session();
    sessions.push(ms);
    const installed = log.enrolled.filter((x) => x.status === 1).length;
    if (installed !== 3) throw new Error(`the Windows device installed ${installed} certificates in its first session, not 3`);
  }
  return { windowsSessionCpuMs: mean(sessions), windowsSessionMedianMs: median(sessions), windowsMessages: messages / devices };
}
