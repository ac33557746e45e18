import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../src/adapters/android/index.js';
import { createAppleAdapter } from '../../src/adapters/apple/index.js';
import { windowsAdapter } from '../../src/adapters/windows/index.js';
import { AndroidAgentSim } from '../../src/sim/android.js';
import { AppleDeviceSim } from '../../src/sim/apple.js';
import { FakeApns, pushCertificate } from '../../src/sim/fake-apns.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { WindowsSimulator } from '../../src/sim/windows.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { pgSkipReason } from '../helpers/postgres.js';

// Issue 10, bad input: the PostgreSQL server goes away under a running gateway
// (pg_ctl stop -m fast) and comes back. Meanwhile every device route (SCEP,
// Windows OMA-DM, Apple check-in, Android policy) and the admin API answer 503
// with Retry-After, not 500; /readyz says the database does not answer; once
// the server is back the gateway serves again by itself, and what was refused
// left nothing behind (the challenge of a refused SCEP request is still good).

const TOPIC = 'com.apple.mgmt.External.0a7a0000-0000-4000-8000-000000000001';
const skip = pgSkipReason();

/** Every response the simulators get while `body` runs: status and Retry-After. */
async function recordResponses(body: () => Promise<unknown>): Promise<{ url: string; status: number; retryAfter: string | null }[]> {
  const seen: { url: string; status: number; retryAfter: string | null }[] = [];
  const real = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const res = await real(input, init);
    seen.push({ url: input instanceof Request ? input.url : String(input), status: res.status, retryAfter: res.headers.get('retry-after') });
    return res;
  };
  try {
    await body();
  } finally {
    globalThis.fetch = real;
  }
  return seen;
}

const swallow = async (p: Promise<unknown>) => p.catch(() => undefined);

/**
 * Admin writes and reads from 4 concurrent clients until stop() (bounded: at most
 * 2,000 requests): what each answered, and which groups were created (201).
 */
function adminLoad(t: TestGateway) {
  const statuses: number[] = [];
  const created: string[] = [];
  let running = true;
  let i = 0;
  const client = async () => {
    while (running && i < 2_000) {
      const name = `load-${++i}`;
      const w = await t.api.call('POST', '/groups', { name });
      statuses.push(w.status);
      if (w.status === 201) created.push(name);
      statuses.push((await t.api.call('GET', '/groups')).status);
    }
  };
  const clients = Promise.all(Array.from({ length: 4 }, client));
  return {
    statuses,
    created,
    stop: async () => {
      running = false;
      await clients;
    },
  };
}

describe.skipIf(skip !== null)(`the database goes away and comes back${skip ? `: ${skip}` : ''}`, () => {
  let cluster: PgCluster;
  let apns: FakeApns;
  let t: TestGateway;

  beforeAll(async () => {
    cluster = await startPgCluster();
    apns = await FakeApns.start();
    t = await startTestGateway({
      // On PostgreSQL the keys are kept in the database, sealed under the passphrase (docs/scale-out.md).
      env: { MDMGW_DATABASE_URL: cluster.url, MDMGW_CA_PASSPHRASE: 'database outage test passphrase' },
      adapters: [windowsAdapter, androidAdapter, createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })],
    });
    const push = await pushCertificate(apns.ca, TOPIC);
    await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    await apns?.stop();
    await cluster?.destroy();
  });

  it('device routes and the admin API answer 503 + Retry-After while it is down, and serve again once it is back', async () => {
    const user = await t.api.ok('POST', '/users', { userPrincipalName: 'outage@contoso.com', email: 'outage@contoso.com', displayName: 'Outage' });
    const win = new WindowsSimulator({ baseUrl: t.url, upn: 'outage@contoso.com', password: (await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' })).token });
    expect((await win.enroll()).fault).toBeUndefined();
    const apple = new AppleDeviceSim(t.url, 'ios');
    await apple.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' })).enrollmentUrl);
    expect((await apple.authenticate()).status).toBe(200);
    const android = new AndroidAgentSim(t.url);
    await android.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
    expect((await android.fetchPolicy()).status).toBe(200);
    const device = await t.api.ok('POST', '/devices', { name: 'router-1', platform: 'windows' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}},O=Outage' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });

    // Under load: admin writes and reads keep coming while the server stops and starts.
    const load = adminLoad(t);
    await new Promise((r) => setTimeout(r, 300));
    await cluster.halt();

    const seen = await recordResponses(async () => {
      await swallow(scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=router-1,O=Outage', challenge }));
      await swallow(win.session());
      await swallow(apple.tokenUpdate());
      await swallow(apple.drain());
      await swallow(android.fetchPolicy());
      await swallow(android.postStatus({ results: [] }));
      await swallow(t.api.call('GET', '/devices'));
      await swallow(t.api.call('POST', '/users', { userPrincipalName: 'during@contoso.com', email: 'during@contoso.com', displayName: 'During' }));
    });
    const refused = seen.filter((r) => !r.url.includes('operation=GetCACert'));
    // SCEP, Windows, Apple check-in and connect, Android policy and status, two admin calls.
    for (const path of ['/certsrv/mscep/mscep.dll?operation=PKIOperation', '/ManagementServer/MDM.svc', '/mdm/checkin', '/mdm/connect', '/android/v1/policy', '/android/v1/status', '/api/v1/devices', '/api/v1/users']) {
      expect(refused.some((r) => r.url.includes(path)), `${path} was called: ${JSON.stringify(refused.map((r) => r.url))}`).toBe(true);
    }
    for (const r of refused) {
      expect(r, r.url).toMatchObject({ status: 503, retryAfter: '5' });
    }
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(JSON.stringify(await ready.json())).toMatch(/"component":"database","status":"error"/);
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);

    await cluster.resume();
    await new Promise((r) => setTimeout(r, 500));
    await load.stop();
    // Every request of the load got 200/201 or 503, never a 500; each group created exists.
    expect(new Set(load.statuses)).toEqual(new Set([200, 201, 503]));
    const groups = (await t.api.ok('GET', '/groups?limit=1000')).map((g: { name: string }) => g.name);
    for (const name of load.created) expect(groups).toContain(name);

    // The pool reconnects on the next query: no restart of the gateway.
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
    expect((await t.api.call('GET', '/devices')).status).toBe(200);
    // Nothing half-written: the refused user was not created, the refused SCEP request spent nothing.
    expect((await t.api.ok('GET', '/users')).map((u: { userPrincipalName: string }) => u.userPrincipalName)).toEqual(['outage@contoso.com']);
    const issued = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=router-1,O=Outage', challenge });
    expect(issued.status).toBe('SUCCESS');
    expect((await win.session()).enrolled).toBeDefined();
    expect((await apple.tokenUpdate()).status).toBe(200);
    expect((await android.fetchPolicy()).status).toBe(200);
  });
});
