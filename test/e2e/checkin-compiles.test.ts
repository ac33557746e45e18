import { X509Certificate } from 'node:crypto';
import { DefaultQueryCompiler, type CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAndroidAdapter } from '../../src/adapters/android/index.js';
import { createAppleAdapter } from '../../src/adapters/apple/index.js';
import { windowsAdapter } from '../../src/adapters/windows/index.js';
import { AndroidAgentSim } from '../../src/sim/android.js';
import { AppleDeviceSim } from '../../src/sim/apple.js';
import { FakeApns, pushCertificate } from '../../src/sim/fake-apns.js';
import { WindowsSimulator } from '../../src/sim/windows.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Issue 13 (branch prep10): the statements every check-in runs are prepared
// queries (src/core/storage/kysely/prepared.ts), compiled once per store, so a
// steady check-in builds no Kysely query at all, or only the few that take an
// `in` list. Counted at Kysely's query compiler (every dialect's compiler is a
// DefaultQueryCompiler) on a real gateway; the counts fail a change that moves
// a hot statement back to a query built per call.

/** A kept Android policy fetch / Apple Idle answered in front of Express: identity, generations, state. Before: 3 and 4. */
const KEPT_ANSWER_BUDGET = 0;
/**
 * A Windows session with nothing to do (2 messages): what is left built per
 * call is the first message's plan (in lists, optional parts). Before: 13.
 */
const WINDOWS_SESSION_BUDGET = 6;

let t: TestGateway;
let apns: FakeApns;
const compiled: string[] = [];
let recording = false;

/** The SQL Kysely compiled while `fn` ran. */
async function compilesOf(fn: () => Promise<unknown>): Promise<string[]> {
  compiled.length = 0;
  recording = true;
  try {
    await fn();
    return [...compiled];
  } finally {
    recording = false;
  }
}

const proto = DefaultQueryCompiler.prototype as unknown as { compileQuery: (...a: unknown[]) => CompiledQuery };
const original = proto.compileQuery;
beforeAll(async () => {
  proto.compileQuery = function (this: unknown, ...a: unknown[]) {
    const q = original.apply(this, a);
    if (recording) compiled.push(q.sql);
    return q;
  };
  apns = await FakeApns.start();
  t = await startTestGateway({ adapters: [createAndroidAdapter(), createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem }), windowsAdapter] });
  const push = await pushCertificate(apns.ca, 'com.apple.mgmt.External.0d6f1a2b-prep-4c7d-9e0f-1a2b3c4d5e6f');
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem });
});
afterAll(async () => {
  proto.compileQuery = original;
  await t?.stop();
  await apns?.stop();
});

let n = 0;
async function userWithProfiles(platform: string, profiles = 1) {
  n += 1;
  const upn = `prep${n}@contoso.com`;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Prep ${n}` });
  for (let i = 1; i <= profiles; i++) {
    const profile = await t.api.ok('POST', '/profiles', { name: `Prep ${n}.${i}`, scope: 'device', subjectName: `CN={{DeviceId}},OU=P${i},O=Prep`, validityDays: 30 });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, userId: user.id });
  }
  return { upn, token: await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform }) };
}

describe('Kysely compilations per steady check-in', () => {
  it(`a kept Android policy fetch compiles at most ${KEPT_ANSWER_BUDGET} queries`, async () => {
    const agent = new AndroidAgentSim(t.url);
    await agent.enroll((await userWithProfiles('android')).token.enrollmentUrl);
    await agent.applyPolicy((await agent.fetchPolicy()).document!);
    await agent.fetchPolicy();
    expect((await agent.fetchPolicy()).status).toBe(200);
    const sql = await compilesOf(async () => expect((await agent.fetchPolicy()).status).toBe(200));
    expect(sql.length, sql.join('\n')).toBeLessThanOrEqual(KEPT_ANSWER_BUDGET);
  });

  it(`a kept Apple Idle compiles at most ${KEPT_ANSWER_BUDGET} queries`, async () => {
    const sim = new AppleDeviceSim(t.url, 'ios');
    await sim.enroll((await userWithProfiles('ios')).token.enrollmentUrl);
    expect((await sim.authenticate()).status).toBe(200);
    expect((await sim.tokenUpdate()).status).toBe(200);
    await sim.drain();
    expect(await sim.connect({ Status: 'Idle' })).toBeNull();
    expect(await sim.connect({ Status: 'Idle' })).toBeNull();
    const sql = await compilesOf(async () => expect(await sim.connect({ Status: 'Idle' })).toBeNull());
    expect(sql.length, sql.join('\n')).toBeLessThanOrEqual(KEPT_ANSWER_BUDGET);
  });

  it(`a Windows session with nothing to do compiles at most ${WINDOWS_SESSION_BUDGET} queries, none of the per-message ones`, async () => {
    const { upn, token } = await userWithProfiles('windows', 3);
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token.token });
    expect((await sim.enroll()).fault).toBeUndefined();
    expect((await sim.session()).enrolled).toHaveLength(3);
    await sim.session(); // reports them installed
    await sim.session();
    let messages = 0;
    const sql = await compilesOf(async () => (messages = (await sim.session()).messages.length));
    expect(messages).toBe(2);
    // The identity, the state read and its compare-and-set write run per message: none of them is built.
    expect(sql.filter((s) => /platform_state|"certificates" as "c"|plan_generation/.test(s)), sql.join('\n')).toEqual([]);
    expect(sql.length, sql.join('\n')).toBeLessThanOrEqual(WINDOWS_SESSION_BUDGET);
    console.info(`windows session with nothing to do: ${sql.length} Kysely compilations\n${sql.join('\n')}`);
  });
});
