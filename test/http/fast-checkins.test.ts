import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAndroidAdapter } from '../../src/adapters/android/index.js';
import { createAppleAdapter } from '../../src/adapters/apple/index.js';
import { openStorage } from '../../src/core/storage/index.js';
import type { Storage } from '../../src/core/storage/storage.js';
import { AndroidAgentSim } from '../../src/sim/android.js';
import { AppleDeviceSim } from '../../src/sim/apple.js';
import { FakeApns, pushCertificate } from '../../src/sim/fake-apns.js';
import { freePort, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { recordSqliteStatements } from '../helpers/sql-statements.js';
import { expressRequestCounter } from '../helpers/express-count.js';

// The Android policy fetch and the Apple device-channel Idle with a kept
// answer are answered in front of Express (src/http/fast-checkins.ts). These
// tests see which path answered by counting the requests that reach the
// Express app, compare a fast answer with the Express route's answer to the
// same request (the route also matches the path with a trailing slash, which
// the fast path leaves alone), and refuse identities through the fast path:
// a change written by another writer that does not bump the plan generation
// (`raw`, a second connection to the same database) leaves the kept answer's
// key as it was, so only the fast path's own identity checks stand between
// the device and the kept answer.

const TOPIC = 'com.apple.mgmt.External.0d6f1a2b-fast-4c7d-9e0f-1a2b3c4d5e6f';
let t: TestGateway;
let apns: FakeApns;
let raw: Storage;
let viaExpress: (fn: () => Promise<unknown>) => Promise<number>;
const sql = recordSqliteStatements();

/** The SQL statements `fn` runs on the gateway's database (better-sqlite3's statement layer). */
async function statementsOf(fn: () => Promise<unknown>): Promise<string[]> {
  sql.executed.length = 0;
  sql.recording = true;
  try {
    await fn();
    return [...sql.executed];
  } finally {
    sql.recording = false;
  }
}
/** The device identity read (getCertificateWithDevice): one per identity check. */
const identityReads = (statements: string[]) => statements.filter((q) => q.includes('from "certificates" as "c"')).length;

beforeAll(async () => {
  apns = await FakeApns.start();
  t = await startTestGateway({ adapters: [createAndroidAdapter(), createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })] });
  const push = await pushCertificate(apns.ca, TOPIC);
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem });
  raw = await openStorage(undefined, t.dataDir);
  // Every request the fast path hands on (or never took) goes through the app's handle.
  viaExpress = expressRequestCounter(t.gw.app);
});
afterAll(async () => {
  await raw?.close();
  await t?.stop();
  await apns?.stop();
});

async function metric(name: string, ...labels: string[]): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${t.gw.adminToken}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)));
  return Number(line?.split(' ').pop() ?? 0);
}

let n = 0;
async function userWithProfile(platform: string) {
  n += 1;
  const upn = `fast${n}@contoso.com`;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Fast ${n}` });
  const profile = await t.api.ok('POST', '/profiles', { name: `Fast Wi-Fi ${n}`, scope: 'user', subjectName: 'CN={{UserPrincipalName}},O=Contoso', validityDays: 30 });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, userId: user.id });
  return (await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform })).enrollmentUrl as string;
}

/** An Android agent with one installed policy whose last fetch was kept. */
async function steadyAgent() {
  const agent = new AndroidAgentSim(t.url);
  await agent.enroll(await userWithProfile('android'));
  await agent.applyPolicy((await agent.fetchPolicy()).document!);
  expect((await agent.fetchPolicy()).document!.policies.map((p) => p.action)).toEqual(['keep']);
  // The fetch after the status report settles the state; this one finds it unchanged and keeps its answer.
  expect((await agent.fetchPolicy()).status).toBe(200);
  const deviceId = new X509Certificate(agent.identity!).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
  const serial = new X509Certificate(agent.identity!).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
  return { agent, deviceId, serial };
}

/** An enrolled iPhone holding one profile, its Idle answered empty and kept. */
async function steadyIphone() {
  const sim = new AppleDeviceSim(t.url, 'ios');
  await sim.enroll(await userWithProfile('ios'));
  expect((await sim.authenticate()).status).toBe(200);
  expect((await sim.tokenUpdate()).status).toBe(200);
  await sim.drain();
  expect(await sim.connect({ Status: 'Idle' })).toBeNull();
  const deviceId = new X509Certificate(sim.identity!.certificate).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
  return { sim, deviceId };
}

const policy = (agent: AndroidAgentSim, suffix = '', headers: Record<string, string> = {}) => fetch(`${t.url}/android/v1/policy${suffix}`, { headers: { ...agent.authHeaders(), ...headers } });
const HEADERS = ['content-type', 'content-length', 'etag', 'cache-control', 'vary'];
const shown = (r: Response) => Object.fromEntries(HEADERS.map((h) => [h, r.headers.get(h)]));

describe('Android policy fetch in front of Express', () => {
  it('answers a kept fetch itself, with the status, headers and bytes the Express route gives', async () => {
    const { agent } = await steadyAgent();
    let fast!: Response;
    expect(await viaExpress(async () => (fast = await policy(agent)))).toBe(0);
    let slow!: Response;
    expect(await viaExpress(async () => (slow = await policy(agent, '/')))).toBe(1);
    expect(fast.status).toBe(200);
    expect(slow.status).toBe(200);
    expect(shown(fast)).toEqual(shown(slow));
    // What agents have always been served (Express's res.type + send).
    expect(fast.headers.get('content-type')).toBe('application/vnd.mdmgw.android-policy+json; schemaversion=1; charset=utf-8');
    expect(await fast.text()).toBe(await slow.text());

    const etag = fast.headers.get('etag')!;
    let fast304!: Response;
    expect(await viaExpress(async () => (fast304 = await policy(agent, '', { 'if-none-match': etag })))).toBe(0);
    const slow304 = await policy(agent, '/', { 'if-none-match': etag });
    expect(fast304.status).toBe(304);
    expect(slow304.status).toBe(304);
    expect(shown(fast304)).toEqual(shown(slow304));
    expect(await fast304.text()).toBe('');
  });

  it('counts a fast answer as the route does: request counter with the route label, check-in counter', async () => {
    const { agent } = await steadyAgent();
    const label = ['method="GET"', 'route="/android/v1/policy"'];
    const [ok200, ok304, checkIns] = [await metric('mdmgw_http_requests_total', ...label, 'status="200"'), await metric('mdmgw_http_requests_total', ...label, 'status="304"'), await metric('mdmgw_checkins_total', 'platform="android"', 'result="ok"')];
    expect(await viaExpress(() => agent.fetchPolicy())).toBe(0);
    expect(await viaExpress(() => agent.fetchPolicy({ conditional: true }))).toBe(0);
    expect(await metric('mdmgw_http_requests_total', ...label, 'status="200"')).toBe(ok200 + 1);
    expect(await metric('mdmgw_http_requests_total', ...label, 'status="304"')).toBe(ok304 + 1);
    expect(await metric('mdmgw_checkins_total', 'platform="android"', 'result="ok"')).toBe(checkIns + 2);
  });

  it('hands a miss to the route (a plan change), and anything it does not recognise', async () => {
    const { agent, deviceId } = await steadyAgent();
    const before = await agent.fetchPolicy();
    await t.api.ok('PATCH', `/devices/${deviceId}`, { attributes: { site: 'HQ' } });
    let after!: Awaited<ReturnType<AndroidAgentSim['fetchPolicy']>>;
    expect(await viaExpress(async () => (after = await agent.fetchPolicy()))).toBe(1);
    expect(after.status).toBe(200);
    expect(after.document!.policies.map((p) => p.action)).toEqual(['keep']);
    expect(before.status).toBe(200);
    // Kept again: the next one is fast.
    expect(await viaExpress(() => agent.fetchPolicy())).toBe(0);
    // No certificate at all: the route's 401.
    let anon!: Response;
    expect(await viaExpress(async () => (anon = await fetch(`${t.url}/android/v1/policy`)))).toBe(1);
    expect(anon.status).toBe(401);
    // A HEAD, or a body on a GET: the route's business.
    expect(await viaExpress(() => fetch(`${t.url}/android/v1/policy`, { method: 'HEAD', headers: agent.authHeaders() }))).toBe(1);
  });

  it('refuses a revoked identity at the next fetch, though the kept answer is still there', async () => {
    const { agent, serial } = await steadyAgent();
    expect((await agent.fetchPolicy()).status).toBe(200);
    expect((await raw.revokeCertificate(serial, new Date().toISOString(), 'keyCompromise')).ok).toBe(true);
    expect((await agent.fetchPolicy()).status).toBe(401);
  });

  it('refuses a blocked device (403) and a retired one (403) at the next fetch', async () => {
    const blocked = await steadyAgent();
    expect((await blocked.agent.fetchPolicy()).status).toBe(200);
    expect((await raw.blockDevice(blocked.deviceId, new Date().toISOString(), 'unspecified')).ok).toBe(true);
    expect((await blocked.agent.fetchPolicy()).status).toBe(403);

    const retired = await steadyAgent();
    expect((await retired.agent.fetchPolicy()).status).toBe(200);
    expect((await raw.retireDevice(retired.deviceId, new Date().toISOString(), 'cessationOfOperation')).ok).toBe(true);
    expect((await retired.agent.fetchPolicy()).status).toBe(403);
  });

  it('refuses an identity superseded by a later enrollment of the device', async () => {
    const { agent, deviceId } = await steadyAgent();
    expect((await agent.fetchPolicy()).status).toBe(200);
    // A newer identity for the same device (a re-enrollment elsewhere), not a renewal of this one.
    const serial = `fa57${n}`;
    const cert = { serialNumber: serial, kind: 'identity' as const, subject: `CN=${deviceId}`, notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2036-01-01T00:00:00.000Z', thumbprint: serial.toUpperCase().padEnd(40, '0'), sha256: serial.padEnd(64, '0'), transactionId: `tx-${serial}`, profileId: null, profileVersion: null, deviceId, userId: null, der: new Uint8Array([0x30, 0x00]) };
    const enrollment = { transactionId: `tx-${serial}`, status: 'issued' as const, kind: 'identity' as const, challengeId: null, profileId: null, profileVersion: null, deviceId, userId: null, csrSha256: 'ab'.repeat(32), csrDer: new Uint8Array([0x30, 0x00]), resolved: null };
    expect(await raw.recordEnrollment(null, enrollment, cert)).toEqual({ ok: true });
    const next = await agent.fetchPolicy();
    expect(next.status).toBe(401);
    expect(JSON.stringify(next.body)).toContain('superseded');
  });
});

describe('Apple Idle in front of Express', () => {
  it('answers a kept Idle itself, as the Express route does (200, empty), and counts it', async () => {
    const { sim } = await steadyIphone();
    const label = ['method="PUT"', 'route="/mdm/connect"', 'status="200"'];
    const before = await metric('mdmgw_http_requests_total', ...label);
    let fast!: Response;
    expect(await viaExpress(async () => (fast = await sim.put(sim.enrollment!.mdm.ServerURL, { UDID: sim.udid, Status: 'Idle' })))).toBe(0);
    let slow!: Response;
    expect(await viaExpress(async () => (slow = await sim.put(`${sim.enrollment!.mdm.ServerURL}/`, { UDID: sim.udid, Status: 'Idle' })))).toBe(1);
    expect(fast.status).toBe(200);
    expect(slow.status).toBe(200);
    const idleHeaders = (r: Response) => [...r.headers].filter(([h]) => h !== 'date');
    expect(idleHeaders(fast)).toEqual(idleHeaders(slow));
    expect(fast.headers.get('content-type')).toBeNull();
    expect(await fast.text()).toBe('');
    expect(await metric('mdmgw_http_requests_total', ...label)).toBe(before + 2);
  });

  it('refuses a tampered Mdm-Signature (401, audited once) and another UDID (403)', async () => {
    const { sim } = await steadyIphone();
    const audited = async () => (await t.api.ok('GET', '/audit?type=apple.message.refused&limit=1000')).items?.length ?? (await t.api.ok('GET', '/audit?type=apple.message.refused&limit=1000')).length;
    const refusals = await audited();
    const tampered = await sim.put(sim.enrollment!.mdm.ServerURL, { UDID: sim.udid, Status: 'Idle' }, { tamper: true });
    expect(tampered.status).toBe(401);
    expect(await audited()).toBe(refusals + 1);
    expect((await sim.put(sim.enrollment!.mdm.ServerURL, { UDID: 'ANOTHER-UDID', Status: 'Idle' })).status).toBe(403);
    // Unsigned, without a certificate: the route's 401.
    expect((await sim.put(sim.enrollment!.mdm.ServerURL, { UDID: sim.udid, Status: 'Idle' }, { sign: false })).status).toBe(401);
    expect(await sim.connect({ Status: 'Idle' })).toBeNull();
  });

  it('refuses a revoked, blocked or retired identity at the next Idle, though the kept answer is still there', async () => {
    const revoked = await steadyIphone();
    const serial = new X509Certificate(revoked.sim.identity!.certificate).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
    expect((await raw.revokeCertificate(serial, new Date().toISOString(), 'keyCompromise')).ok).toBe(true);
    expect((await revoked.sim.put(revoked.sim.enrollment!.mdm.ServerURL, { UDID: revoked.sim.udid, Status: 'Idle' })).status).toBe(401);

    const blocked = await steadyIphone();
    expect((await raw.blockDevice(blocked.deviceId, new Date().toISOString(), 'unspecified')).ok).toBe(true);
    expect((await blocked.sim.put(blocked.sim.enrollment!.mdm.ServerURL, { UDID: blocked.sim.udid, Status: 'Idle' })).status).toBe(403);

    const retired = await steadyIphone();
    expect((await raw.retireDevice(retired.deviceId, new Date().toISOString(), 'cessationOfOperation')).ok).toBe(true);
    expect((await retired.sim.put(retired.sim.enrollment!.mdm.ServerURL, { UDID: retired.sim.udid, Status: 'Idle' })).status).toBe(403);
  });

  it('hands other messages to the route with the body it read (a command result is recorded)', async () => {
    const { sim, deviceId } = await steadyIphone();
    await t.api.ok('POST', `/apple/devices/${deviceId}/commands`, { kind: 'ProfileList' }, 201);
    const cmd = await sim.connect({ Status: 'Idle' });
    expect(cmd?.Command?.RequestType).toBe('ProfileList');
    expect(await viaExpress(() => sim.connect({ Status: 'Acknowledged', CommandUUID: cmd!.CommandUUID, ProfileList: [] }))).toBe(1);
    const commands = await t.api.ok('GET', `/apple/devices/${deviceId}/commands`);
    const done = (commands.items ?? commands).find((c: { id: string }) => c.id === cmd!.CommandUUID);
    expect(done.status).toBe('acknowledged');
  });
});

describe('one statement and one verification less (branch checkin12)', () => {
  it('a kept Android fetch runs 2 statements (the identity with the plan generations, the agent state); a kept Apple Idle the same and the command queue', async () => {
    const { agent } = await steadyAgent();
    expect((await agent.fetchPolicy()).status).toBe(200);
    const android = await statementsOf(async () => expect((await agent.fetchPolicy()).status).toBe(200));
    expect(android, android.join('\n')).toHaveLength(2);
    expect(identityReads(android)).toBe(1);
    // The generations come with the identity: no statement of their own.
    expect(android.filter((q) => q.includes('plan_generation') && !q.includes('"certificates" as "c"')), android.join('\n')).toEqual([]);

    const { sim } = await steadyIphone();
    expect(await sim.connect({ Status: 'Idle' })).toBeNull();
    const apple = await statementsOf(async () => expect(await sim.connect({ Status: 'Idle' })).toBeNull());
    // The identity, the state, and a look at the command queue (no transaction, nothing taken).
    expect(apple, apple.join('\n')).toHaveLength(3);
    expect(apple.filter((q) => /^(begin|commit|update)/i.test(q)), apple.join('\n')).toEqual([]);
    expect(identityReads(apple)).toBe(1);
  });

  it('a refused Android fetch handed to the route is verified once, and answered, logged and counted as before', async () => {
    const { agent, serial } = await steadyAgent();
    expect((await agent.fetchPolicy()).status).toBe(200);
    expect((await raw.revokeCertificate(serial, new Date().toISOString(), 'keyCompromise')).ok).toBe(true);
    const label = ['method="GET"', 'route="/android/v1/policy"', 'status="401"'];
    const [requests, refused] = [await metric('mdmgw_http_requests_total', ...label), await metric('mdmgw_checkins_total', 'platform="android"', 'result="unauthenticated"')];
    let res!: Awaited<ReturnType<AndroidAgentSim['fetchPolicy']>>;
    let routed = 0;
    const statements = await statementsOf(async () => (routed = await viaExpress(async () => (res = await agent.fetchPolicy()))));
    expect(routed).toBe(1); // the route answered it
    expect(identityReads(statements), statements.join('\n')).toBe(1);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'client certificate is revoked' });
    expect(await metric('mdmgw_http_requests_total', ...label)).toBe(requests + 1);
    expect(await metric('mdmgw_checkins_total', 'platform="android"', 'result="unauthenticated"')).toBe(refused + 1);
  });

  it('a miss handed to the route is verified once too', async () => {
    const { agent, deviceId } = await steadyAgent();
    await t.api.ok('PATCH', `/devices/${deviceId}`, { attributes: { floor: '3' } });
    let routed = 0;
    const statements = await statementsOf(async () => (routed = await viaExpress(async () => expect((await agent.fetchPolicy()).status).toBe(200))));
    expect(routed).toBe(1);
    expect(identityReads(statements), statements.join('\n')).toBe(1);
  });

  it('a refused Apple Idle (revoked or blocked signer) handed to the route is verified once, and answered, audited and counted as before', async () => {
    const audited = async (reasonCode: string) => {
      const page = await t.api.ok('GET', '/audit?type=apple.message.refused&limit=1000');
      return ((page.items ?? page) as { reasonCode: string | null }[]).filter((e) => e.reasonCode === reasonCode).length;
    };
    const idle = (sim: AppleDeviceSim) => sim.put(sim.enrollment!.mdm.ServerURL, { UDID: sim.udid, Status: 'Idle' });
    const count = (status: number) => metric('mdmgw_http_requests_total', 'method="PUT"', 'route="/mdm/connect"', `status="${status}"`);

    const revoked = await steadyIphone();
    const serial = new X509Certificate(revoked.sim.identity!.certificate).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
    expect((await raw.revokeCertificate(serial, new Date().toISOString(), 'keyCompromise')).ok).toBe(true);
    let [audits, requests] = [await audited('MDM_SIGNER_NOT_A_DEVICE'), await count(401)];
    let res!: Response;
    let routed = 0;
    let statements = await statementsOf(async () => (routed = await viaExpress(async () => (res = await idle(revoked.sim)))));
    expect(routed).toBe(1);
    expect(identityReads(statements), statements.join('\n')).toBe(1);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'client certificate is revoked' });
    expect(await audited('MDM_SIGNER_NOT_A_DEVICE')).toBe(audits + 1);
    expect(await count(401)).toBe(requests + 1);

    const blocked = await steadyIphone();
    expect((await raw.blockDevice(blocked.deviceId, new Date().toISOString(), 'unspecified')).ok).toBe(true);
    [audits, requests] = [await audited('DEVICE_BLOCKED'), await count(403)];
    statements = await statementsOf(async () => (routed = await viaExpress(async () => (res = await idle(blocked.sim)))));
    expect(routed).toBe(1);
    expect(identityReads(statements), statements.join('\n')).toBe(1);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error: `device ${blocked.deviceId} is blocked by an administrator` });
    expect(await audited('DEVICE_BLOCKED')).toBe(audits + 1);
    expect(await count(403)).toBe(requests + 1);
  });
});

describe('with an admin listener', () => {
  it('answers a kept fetch on the device listener only: the admin listener keeps its 404 for device routes', async () => {
    const split = await startTestGateway({ adapters: [createAndroidAdapter()], env: { MDMGW_ADMIN_LISTEN: `127.0.0.1:${await freePort()}` } });
    try {
      const user = await split.api.ok('POST', '/users', { userPrincipalName: 'split@contoso.com', email: 'split@contoso.com', displayName: 'Split' });
      const agent = new AndroidAgentSim(split.url);
      await agent.enroll((await split.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
      for (let i = 0; i < 3; i++) expect((await agent.fetchPolicy()).status).toBe(200);
      const onDevice = await fetch(`${split.url}/android/v1/policy`, { headers: agent.authHeaders() });
      expect(onDevice.status).toBe(200);
      const onAdmin = await fetch(`${split.adminUrl}/android/v1/policy`, { headers: agent.authHeaders() });
      expect(onAdmin.status).toBe(404);
      expect(await onAdmin.json()).toEqual({ error: 'not found' });
    } finally {
      await split.stop();
    }
  });
});
