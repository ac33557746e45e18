import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { windowsAdapter } from '../../../src/adapters/windows/index.js';
import { renewalDueTime } from '../../../src/adapters/windows/renewal.js';
import type { WindowsState } from '../../../src/adapters/windows/state.js';
import { CHECKIN_CACHE_MAX_AGE_MS } from '../../../src/core/checkin-cache.js';
import { WindowsSimulator } from '../../../src/sim/windows.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';

// Issue 13: a Windows session whose plan found nothing to do is kept with the
// inputs it depended on (adapters/windows/plan-memo.ts); the next session with
// the same inputs does not plan (no assignment, profile, user or certificate
// reads). Every kind of input change makes the next session plan again: an
// assignment, a profile version, a revocation, a renewal window reached (time,
// within the memo's maximum age), another instance's write.

let now = Date.now();
let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [windowsAdapter], now: () => new Date(now) });
});
afterAll(async () => {
  await t?.stop();
});

type SessionLog = Awaited<ReturnType<WindowsSimulator['session']>>;
const commandsOf = (log: SessionLog) => log.messages.flatMap((m) => m.commands).map((c) => c.name);

let n = 0;
async function newProfile(api: TestGateway['api'], userId: string, extra: Record<string, unknown> = {}) {
  const spec = { name: `memo ${n}.${Math.random().toString(36).slice(2, 8)}`, scope: 'device', subjectName: `CN={{DeviceName}},O=Memo`, scepServerUrls: [t.scepUrl], ...extra };
  const p = await api.ok('POST', '/profiles', spec);
  await api.ok('POST', '/assignments', { profileId: p.id, userId });
  return { id: p.id as string, spec };
}

/** A device with one installed profile whose last session found nothing to do (so the next one is kept). */
async function quietDevice(extra: Record<string, unknown> = {}) {
  const upn = `memo${++n}@contoso.com`;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Memo ${n}` });
  const profile = await newProfile(t.api, user.id, extra);
  const token = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
  const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token.token });
  expect((await sim.enroll()).fault).toBeUndefined();
  const deviceId = new X509Certificate(sim.identity!).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
  expect((await sim.session()).enrolled.map((e) => e.status)).toEqual([1]);
  await sim.session(); // reports it installed
  expect(commandsOf(await sim.session())).toEqual(['Get']); // plans: nothing to do (kept)
  return { sim, user, deviceId, profile };
}

/** Calls of the storage's assignment read (the plan's first input) while `fn` runs. */
async function plans(fn: () => Promise<SessionLog>): Promise<{ reads: number; log: SessionLog }> {
  const storage = t.gw.storage as unknown as Record<string, unknown>;
  const own = Object.getOwnPropertyDescriptor(storage, 'assignmentsFor');
  const original = t.gw.storage.assignmentsFor;
  let reads = 0;
  storage.assignmentsFor = (...a: Parameters<typeof original>) => (reads++, original.apply(t.gw.storage, a));
  try {
    return { log: await fn(), reads };
  } finally {
    if (own) Object.defineProperty(storage, 'assignmentsFor', own);
    else delete storage.assignmentsFor;
  }
}

const installsOf = (log: SessionLog, profileId: string) => log.enrolled.filter((e) => e.node.endsWith(`mdmgw-${profileId}`)).map((e) => e.status);

describe('Windows: a plan with nothing to do is kept (issue 13)', () => {
  it('the next session with the same inputs reads no plan input, and still answers every message', async () => {
    const { sim } = await quietDevice();
    const kept = await plans(() => sim.session());
    expect(kept.reads).toBe(0);
    expect(kept.log.messages).toHaveLength(2);
    expect(commandsOf(kept.log)).toEqual(['Get']);
  });

  it('a new assignment: the next session plans and installs it', async () => {
    const { sim, user } = await quietDevice();
    const added = await newProfile(t.api, user.id);
    const next = await plans(() => sim.session());
    expect(next.reads).toBeGreaterThan(0);
    expect(installsOf(next.log, added.id)).toEqual([1]);
  });

  it('a new profile version: the next session re-issues it', async () => {
    const { sim, profile } = await quietDevice();
    await t.api.ok('PUT', `/profiles/${profile.id}`, { ...profile.spec, subjectName: 'CN={{DeviceName}},OU=v2,O=Memo' }, 200);
    const next = await plans(() => sim.session());
    expect(installsOf(next.log, profile.id)).toEqual([1]);
    expect(next.log.messages.map((m) => m.raw).join('')).toContain('OU=v2,O=Memo');
  });

  it('a revocation of the installed certificate: the next session delivers it again', async () => {
    const { sim, deviceId, profile } = await quietDevice();
    const [cert] = (await t.gw.storage.listCertificates({ deviceId, kind: 'profile' })).filter((c) => c.profileId === profile.id);
    await t.api.ok('POST', `/certificates/${cert!.serialNumber}/revoke`, {}, 200);
    const next = await plans(() => sim.session());
    expect(next.reads).toBeGreaterThan(0);
    expect(installsOf(next.log, profile.id)).toEqual([1]);
  });

  it('an installed certificate entering its renewal window: the next session renews it, even within the memo maximum age', async () => {
    const { sim, deviceId, profile } = await quietDevice({ validityDays: 1, renewalThresholdPercent: 50 });
    const state = (await t.gw.storage.getPlatformState(deviceId, 'windows')) as WindowsState;
    const due = renewalDueTime(state.profiles![profile.id]!);
    expect(Number.isFinite(due)).toBe(true);
    // Just before the window: plans (the last memo aged out), finds nothing, is kept until the window opens.
    now = due - 60_000;
    expect(commandsOf((await plans(() => sim.session())).log)).toEqual(['Get']);
    expect(commandsOf((await plans(() => sim.session())).log)).toEqual(['Get']);
    // Two minutes later, well inside the memo maximum age: renewed.
    now = due + 60_000;
    expect(now - (due - 60_000)).toBeLessThan(CHECKIN_CACHE_MAX_AGE_MS);
    const next = await plans(() => sim.session());
    expect(next.reads).toBeGreaterThan(0);
    expect(installsOf(next.log, profile.id)).toEqual([1]);
    now = Date.now();
  });

  it("another instance's write on the same database (an assignment made there): the next session here installs it", async () => {
    const { sim, user } = await quietDevice();
    const other = await startTestGateway({ adapters: [windowsAdapter], dataDir: t.dataDir });
    let added: { id: string };
    try {
      added = await newProfile(other.api, user.id);
    } finally {
      await other.stop();
    }
    const next = await plans(() => sim.session());
    expect(next.reads).toBeGreaterThan(0);
    expect(installsOf(next.log, added.id)).toEqual([1]);
  });
});
