// Check-in clients for the soak (bench/lib/soak.ts): a few enrolled Android
// agents (policy fetch, alternately unconditional and with If-None-Match),
// Windows devices (an OMA-DM session each) and Apple devices (an Idle connect
// with nothing to do, as in checkins.ts), set up through the admin API and
// the device simulators the way a real device enrolls. Each returned
// operation is one check-in; a Windows device never overlaps its own
// sessions (one operation per device, the caller runs each on one worker).
import { AndroidAgentSim } from '../../src/sim/android.js';
import { WindowsSimulator } from '../../src/sim/windows.js';
import { pushCertificate, type FakeApns } from '../../src/sim/fake-apns.js';
import { enrolledAppleDevice, idleRequest, TOPIC } from './checkins.js';

type Api = (method: string, path: string, body?: unknown) => Promise<any>;

export interface SoakCheckins {
  /** Android policy fetches: any number of workers may call these at once. */
  android: (() => Promise<void>)[];
  /** One per Windows device: call each from one worker only. */
  windows: (() => Promise<void>)[];
  /** Apple Idle connects, one per device; any number of workers may call these at once. */
  apple: (() => Promise<void>)[];
}

export async function soakCheckins(url: string, api: Api, o: { android: number; windows: number; apple?: { devices: number; apns: FakeApns } }): Promise<SoakCheckins> {
  const user = await api('POST', '/users', { userPrincipalName: 'soak@contoso.com', email: 'soak@contoso.com', displayName: 'Soak' });
  for (let i = 1; i <= 2; i++) {
    const p = await api('POST', '/profiles', { name: `soak Wi-Fi ${i}`, scope: 'device', subjectName: `CN={{DeviceName}},OU=S${i},O=Soak` });
    await api('POST', '/assignments', { profileId: p.id, userId: user.id });
  }
  const android: SoakCheckins['android'] = [];
  for (let i = 0; i < o.android; i++) {
    const tok = await api('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' });
    const agent = new AndroidAgentSim(url);
    await agent.enroll(tok.enrollmentUrl);
    await agent.applyPolicy((await agent.fetchPolicy()).document!);
    await agent.fetchPolicy();
    let n = 0;
    android.push(async () => {
      const conditional = n++ % 2 === 1;
      const f = await agent.fetchPolicy({ conditional });
      if (f.status !== (conditional ? 304 : 200)) throw new Error(`Android policy fetch${conditional ? ' (conditional)' : ''}: HTTP ${f.status}`);
    });
  }
  const windows: SoakCheckins['windows'] = [];
  for (let i = 0; i < o.windows; i++) {
    const tok = await api('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
    const sim = new WindowsSimulator({ baseUrl: url, upn: 'soak@contoso.com', password: tok.token });
    const e = await sim.enroll();
    if (e.fault || !sim.identity) throw new Error(`Windows enrollment: ${e.fault?.reason ?? `HTTP ${e.status}`}`);
    await sim.session(); // installs the profiles
    await sim.session(); // reports them
    windows.push(async () => {
      const log = await sim.session();
      if (log.enrolled.some((x) => x.status !== 1)) throw new Error('Windows session: an enrollment failed');
    });
  }
  const apple: SoakCheckins['apple'] = [];
  if (o.apple && o.apple.devices > 0) {
    const push = await pushCertificate(o.apple.apns.ca, TOPIC);
    await api('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem });
    for (let i = 0; i < o.apple.devices; i++) {
      const sim = await enrolledAppleDevice(url, api, user.id, o.apple.apns);
      await sim.drain(); // installs the profiles
      await sim.drain(); // CertificateList/ProfileList follow-ups, if any
      const installed = [...sim.installed.values()].filter((p) => p.certificate).length;
      if (installed !== 2) throw new Error(`the Apple device installed ${installed} certificates, not 2`);
      apple.push(await idleRequest(sim));
    }
  }
  return { android, windows, apple };
}
