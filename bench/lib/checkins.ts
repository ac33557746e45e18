// Check-ins against the gateway process, for a device with 3 assigned
// profiles (issue 13): the Android agent's policy fetch (200 with the
// document, and 304 with If-None-Match) after the first fetch delivered
// and installed the 3 certificates, and a Windows OMA-DM session with nothing
// left to install. Driven by the device simulators over HTTP.
import { AndroidAgentSim } from '../../src/sim/android.js';
import { WindowsSimulator } from '../../src/sim/windows.js';
import { runLoad, type LoadResult } from './load.js';

type Api = (method: string, path: string, body?: unknown) => Promise<any>;

export interface CheckinResults {
  androidFirst: { cpuMs: number; certificates: number };
  androidPolicy: LoadResult;
  androidNotModified: LoadResult;
  windowsFirst: { cpuMs: number; certificates: number } | { error: string };
  windowsSession: LoadResult | { error: string };
}

const PROFILE = (i: number) => ({ name: `bench Wi-Fi ${i}`, scope: 'device', subjectName: `CN={{DeviceName}},OU=P${i},O=Bench`, subjectAlternativeNames: [{ type: 'upn', value: '{{UserPrincipalName}}' }] });

export async function checkinBench(url: string, api: Api, cpuMs: () => number, n: number, concurrency: number): Promise<CheckinResults> {
  const user = await api('POST', '/users', { userPrincipalName: 'bench@contoso.com', email: 'bench@contoso.com', displayName: 'Bench' });
  for (let i = 1; i <= 3; i++) {
    const p = await api('POST', '/profiles', PROFILE(i));
    await api('POST', '/assignments', { profileId: p.id, userId: user.id });
  }
  // Android: enroll, first fetch + install (3 SCEP enrollments), then the steady state.
  const tok = await api('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
  const agent = new AndroidAgentSim(url);
  await agent.enroll(tok.enrollmentUrl);
  let c0 = cpuMs();
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

  let windowsFirst: CheckinResults['windowsFirst'];
  let windowsSession: CheckinResults['windowsSession'];
  try {
    const wtok = await api('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
    const sim = new WindowsSimulator({ baseUrl: url, upn: 'bench@contoso.com', password: wtok.token });
    const e = await sim.enroll();
    if (e.fault || !sim.identity) throw new Error(`Windows enrollment: ${e.fault?.reason ?? `HTTP ${e.status}`}`);
    c0 = cpuMs();
    const log = await sim.session();
    await sim.session(); // the device reports what it installed
    windowsFirst = { cpuMs: cpuMs() - c0, certificates: log.enrolled.filter((x) => x.status === 1).length };
    // One simulator, one session at a time (a device does not overlap its own sessions).
    windowsSession = await runLoad({ n: Math.ceil(n / 4), concurrency: 1, cpuMs, op: async () => void (await sim.session()) });
  } catch (e) {
    windowsFirst = { error: (e as Error).message };
    windowsSession = { error: (e as Error).message };
  }
  return { androidFirst, androidPolicy, androidNotModified, windowsFirst, windowsSession };
}
