// The check-in that delivers a device's 3 profiles (issue 13 target: "at most
// 3 ms plus the signatures it needs"), measured apart from the SCEP
// enrollments that follow it: gateway CPU (from /proc) is read just before
// and just after the delivering messages, never across a SCEP request.
// - Android: the first policy fetch after enrollment (3 `enroll` policies,
//   each with its challenge).
// - Apple: the TokenUpdate that plans and queues the 3 InstallProfile
//   commands, and the connects that fetch them (Idle, then each answer); the
//   simulator's SCEP enrollment between two connects is outside the windows.
import { AndroidAgentSim } from '../../src/sim/android.js';
import { AppleDeviceSim } from '../../src/sim/apple.js';
import type { FakeApns } from '../../src/sim/fake-apns.js';

type Api = (method: string, path: string, body?: unknown) => Promise<any>;

export interface DeliveringResults {
  devices: number;
  /** Gateway CPU ms per delivering Android policy fetch. */
  androidFetchCpuMs: number;
  /** Gateway CPU ms per Apple TokenUpdate (plans and queues the 3 InstallProfile commands). */
  appleTokenUpdateCpuMs?: number;
  /** Gateway CPU ms per Apple device for the connects that fetch the 3 commands (Idle + the answers), SCEP excluded. */
  appleConnectsCpuMs?: number;
  /** Connects per Apple device in that window. */
  appleConnects?: number;
}

export async function deliveringBench(api: Api, cpuMs: () => number, userId: string, devices: number, url: string, apns?: FakeApns): Promise<DeliveringResults> {
  let android = 0;
  for (let i = 0; i < devices; i++) {
    const agent = new AndroidAgentSim(url);
    await agent.enroll((await api('POST', '/enrollment-tokens', { userId, platform: 'android' })).enrollmentUrl);
    const c0 = cpuMs();
    const first = await agent.fetchPolicy();
    android += cpuMs() - c0;
    const enroll = first.document?.policies.filter((p) => p.action === 'enroll').length;
    if (enroll !== 3) throw new Error(`the delivering fetch carried ${enroll} policies to enroll, not 3: HTTP ${first.status} ${JSON.stringify(first.body).slice(0, 300)}`);
  }
  const results: DeliveringResults = { devices, androidFetchCpuMs: android / devices };
  if (!apns) return results;
  let tokenUpdate = 0;
  let connects = 0;
  let connectCount = 0;
  for (let i = 0; i < devices; i++) {
    const sim = new AppleDeviceSim(url, 'ios');
    await sim.enroll((await api('POST', '/enrollment-tokens', { userId, platform: 'ios' })).enrollmentUrl);
    if ((await sim.authenticate()).status !== 200) throw new Error('Authenticate refused');
    let c0 = cpuMs();
    const r = await sim.tokenUpdate();
    tokenUpdate += cpuMs() - c0;
    if (r.status !== 200) throw new Error(`TokenUpdate: HTTP ${r.status}`);
    let installs = 0;
    c0 = cpuMs();
    let cmd = await sim.connect({ Status: 'Idle' });
    connects += cpuMs() - c0;
    connectCount += 1;
    while (cmd) {
      if ((cmd.Command as { RequestType?: string }).RequestType === 'InstallProfile') installs += 1;
      const answer = await sim.execute(cmd); // the SCEP enrollment: not counted
      c0 = cpuMs();
      cmd = await sim.connect({ CommandUUID: cmd.CommandUUID, ...answer });
      connects += cpuMs() - c0;
      connectCount += 1;
    }
    if (installs !== 3) throw new Error(`the Apple device got ${installs} InstallProfile commands, not 3`);
  }
  return { ...results, appleTokenUpdateCpuMs: tokenUpdate / devices, appleConnectsCpuMs: connects / devices, appleConnects: connectCount / devices };
}
