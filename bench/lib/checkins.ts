// Check-ins against the gateway process, for a device with 3 assigned
// profiles (issue 13): the Android agent's policy fetch (200 with the
// document, and 304 with If-None-Match) after the first fetch delivered
// and installed the 3 certificates, and Windows OMA-DM sessions with nothing
// left to install (windows-checkins.ts: one device, and 64 at once).
// Driven by the device simulators over HTTP.
import { AndroidAgentSim } from '../../src/sim/android.js';
import { windowsCheckinBench, type WindowsCheckinResults } from './windows-checkins.js';
import { runLoad, type LoadResult } from './load.js';

type Api = (method: string, path: string, body?: unknown) => Promise<any>;

export interface CheckinResults extends WindowsCheckinResults {
  androidFirst: { cpuMs: number; certificates: number };
  androidPolicy: LoadResult;
  androidNotModified: LoadResult;
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

  // Windows: bench/lib/windows-checkins.ts (one device at c=1, then 64 devices at once).
  const windows = await windowsCheckinBench(url, api, cpuMs, { userId: user.id, upn: 'bench@contoso.com', n: Math.ceil(n / 4), devices: 64, expectInstalls: 3 });
  return { androidFirst, androidPolicy, androidNotModified, ...windows };
}
