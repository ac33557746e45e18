// `node --import tsx bench/checkin-cache-mixed.ts [--seconds N]`: the check-in
// cache under a mix like the soak's (issue 13): 8 Android agents, each with
// the same 3 profiles installed, fetch their policy (If-None-Match) back to
// back while 2 workers enroll certificates over SCEP for another device.
// Reports how many fetches planned the device again (its groups read for the
// plan) instead of answering from the cached plan: with a global plan
// generation every enrollment drops every agent's answer; per device, only
// the enrolling device's. In process (the count needs the storage), so CPU
// figures include the client's: read the hit rate.
import { loadavg } from 'node:os';
import { androidAdapter } from '../src/adapters/android/index.js';
import { AndroidAgentSim } from '../src/sim/android.js';
import { generateDeviceKey, getCaCerts, scepEnroll } from '../src/sim/scep-client.js';
import { startTestGateway } from '../test/helpers/gateway.js';

const at = process.argv.indexOf('--seconds');
const SECONDS = at > 0 ? Number(process.argv[at + 1]) : 30;
const t = await startTestGateway({ adapters: [androidAdapter] });
try {
  const user = await t.api.ok('POST', '/users', { userPrincipalName: 'mixed@contoso.com', email: 'mixed@contoso.com', displayName: 'Mixed' });
  for (let i = 1; i <= 3; i++) {
    const p = await t.api.ok('POST', '/profiles', { name: `mixed ${i}`, scope: 'device', subjectName: `CN={{DeviceId}},OU=P${i},O=Mixed` });
    await t.api.ok('POST', '/assignments', { profileId: p.id, userId: user.id });
  }
  const agents: AndroidAgentSim[] = [];
  for (let i = 0; i < 8; i++) {
    const a = new AndroidAgentSim(t.url);
    await a.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
    await a.applyPolicy((await a.fetchPolicy()).document!);
    await a.fetchPolicy();
    agents.push(a);
  }
  const target = await t.api.ok('POST', '/devices', { name: 'enrolling', platform: 'windows' });
  const enrollProfile = await t.api.ok('POST', '/profiles', { name: 'mixed enroll', scope: 'device', subjectName: 'CN={{DeviceName}},O=Mixed' });
  await t.api.ok('POST', '/assignments', { profileId: enrollProfile.id, deviceId: target.id });

  // Plans of the agents' devices: refsFor reads the device's groups once per plan (core/assignments.ts).
  const agentDevices = new Set(agents.map((a) => a.deviceId!));
  const storage = t.gw.storage as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const groupsOf = storage.groupsOf!;
  let plans = 0;
  storage.groupsOf = (...a: unknown[]) => {
    const ref = a[0] as { deviceId?: string };
    if (ref.deviceId && agentDevices.has(ref.deviceId)) plans += 1;
    return groupsOf.apply(t.gw.storage, a);
  };

  const { ra } = await getCaCerts(t.scepUrl);
  const keys = await Promise.all(Array.from({ length: 4 }, () => generateDeviceKey('RSA', 2048)));
  const end = Date.now() + SECONDS * 1000;
  let fetches = 0;
  let enrollments = 0;
  const cpu0 = process.cpuUsage();
  const load = loadavg().map((l) => l.toFixed(1)).join(' ');
  await Promise.all([
    ...agents.map(async (a) => {
      while (Date.now() < end) {
        const f = await a.fetchPolicy({ conditional: true });
        if (f.status !== 304 && f.status !== 200) throw new Error(`fetch: HTTP ${f.status}`);
        fetches += 1;
      }
    }),
    ...[0, 1].map(async (w) => {
      while (Date.now() < end) {
        const { challenge } = await t.api.ok('POST', '/challenges', { profileId: enrollProfile.id, deviceId: target.id });
        const r = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=enrolling, O=Mixed', challenge, raCertificate: ra, key: keys[(enrollments + w) % keys.length] });
        if (r.status !== 'SUCCESS') throw new Error(`enrollment: ${r.status}`);
        enrollments += 1;
      }
    }),
  ]);
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ seconds: SECONDS, fetches, enrollments, plannedFetches: plans, cacheHitRate: Number((1 - plans / fetches).toFixed(3)), processCpuMsPerOp: Number(((cpu.user + cpu.system) / 1000 / (fetches + enrollments)).toFixed(2)), loadBefore: load, loadAfter: loadavg().map((l) => l.toFixed(1)).join(' ') }, null, 2));
} finally {
  await t.stop();
}
