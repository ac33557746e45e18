import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { windowsAdapter } from '../../../src/adapters/windows/index.js';
import type { WindowsState } from '../../../src/adapters/windows/state.js';
import { WindowsSimulator } from '../../../src/sim/windows.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';

// Issue 13: a Windows session with nothing to do plans once. Its first message
// reads core's inputs (assignments, profiles, the user, the certificates); the
// closing message, which changes nothing the plan reads, does not read them
// again (session.plannedKey). Every new session reads them afresh, so a new
// assignment, a new profile version or a changed user attribute is acted on
// by the device's next session.

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [windowsAdapter] });
});
afterAll(async () => {
  await t.stop();
});

let n = 0;
async function settledDevice(profiles: number) {
  const upn = `plan${++n}@contoso.com`;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Plan ${n}` });
  const specs = [];
  for (let i = 1; i <= profiles; i++) {
    const spec = { name: `plan ${n}.${i}`, scope: 'device', subjectName: `CN={{DeviceName}},OU=P${i},O=Contoso`, scepServerUrls: [t.scepUrl] };
    const p = await t.api.ok('POST', '/profiles', spec);
    await t.api.ok('POST', '/assignments', { profileId: p.id, userId: user.id });
    specs.push({ id: p.id as string, spec });
  }
  const token = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
  const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token.token });
  expect((await sim.enroll()).fault).toBeUndefined();
  const deviceId = new X509Certificate(sim.identity!).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
  expect((await sim.session()).enrolled.map((e) => e.status)).toEqual(Array(profiles).fill(1));
  await sim.session(); // the device reports them installed
  const deliveries = await t.api.ok('GET', `/devices/${deviceId}/deliveries`);
  expect(deliveries.map((d: { state: string }) => d.state)).toEqual(Array(profiles).fill('installed'));
  return { sim, user, deviceId, specs };
}

/** Counts calls of storage methods while `fn` runs (the gateway's storage, seen through an own property). */
async function countReads(names: string[], fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const storage = t.gw.storage as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const calls: Record<string, number> = {};
  const saved = names.map((name) => {
    const own = Object.getOwnPropertyDescriptor(storage, name);
    const original = storage[name]!;
    calls[name] = 0;
    storage[name] = (...a: unknown[]) => {
      calls[name]!++;
      return original.apply(t.gw.storage, a);
    };
    return { name, own };
  });
  try {
    await fn();
  } finally {
    for (const { name, own } of saved) {
      if (own) Object.defineProperty(storage, name, own);
      else delete storage[name];
    }
  }
  return calls;
}

const commandsOf = (log: Awaited<ReturnType<WindowsSimulator['session']>>) => log.messages.flatMap((m) => m.commands).map((c) => c.name);

describe('Windows session planning (issue 13)', () => {
  it('a session with nothing to do reads the assignments on its first message only, identity and state once per message, and still checks every message', async () => {
    const { sim, deviceId } = await settledDevice(3);
    let log!: Awaited<ReturnType<WindowsSimulator['session']>>;
    const reads = await countReads(['assignmentsFor', 'getCertificateWithDevice', 'getPlatformState', 'getPlatformStateVersioned', 'putPlatformState', 'putPlatformStateIfVersion', 'tryLease', 'releaseLease'], async () => {
      log = await sim.session();
    });
    expect(log.messages).toHaveLength(2);
    expect(commandsOf(log)).toEqual(['Get']);
    expect(reads.assignmentsFor).toBe(1);
    // Each message: its identity certificate (with its device) looked up once (not again by the route), its state read once.
    expect(reads.getCertificateWithDevice).toBe(2);
    expect(reads.getPlatformState! + reads.getPlatformStateVersioned!).toBe(2);
    // One write per message, compare-and-set on the version read, and no device lease rows (issue 13).
    expect(reads.putPlatformStateIfVersion).toBe(2);
    expect(reads.putPlatformState).toBe(0);
    expect(reads.tryLease! + reads.releaseLease!).toBe(0);
    const state = (await t.gw.storage.getPlatformState(deviceId, 'windows')) as WindowsState;
    expect(state.session!.plannedKey).toBeDefined();
    expect(state.session!.clientMsgId).toBe(2);
    // A repeated MsgID in that session is still refused with 400 on the SyncHdr.
    const replay = await sim.post(sim.message(state.session!.id, 2, ''));
    expect(replay.status).toBe(200);
    expect(replay.text).toMatch(/<Cmd>SyncHdr<\/Cmd>\s*(<TargetRef>[^<]*<\/TargetRef>\s*)?(<SourceRef>[^<]*<\/SourceRef>\s*)?<Data>400<\/Data>/);
  });

  it('a delivering session plans on its first message only: the statuses of its own installs do not plan again', async () => {
    const upn = `plan${++n}@contoso.com`;
    const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Plan ${n}` });
    for (let i = 1; i <= 3; i++) {
      const p = await t.api.ok('POST', '/profiles', { name: `deliver ${n}.${i}`, scope: 'device', subjectName: `CN={{DeviceName}},OU=D${i},O=Contoso`, scepServerUrls: [t.scepUrl] });
      await t.api.ok('POST', '/assignments', { profileId: p.id, userId: user.id });
    }
    const token = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token.token });
    expect((await sim.enroll()).fault).toBeUndefined();
    const deviceId = new X509Certificate(sim.identity!).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
    let log!: Awaited<ReturnType<WindowsSimulator['session']>>;
    const reads = await countReads(['assignmentsFor'], async () => {
      log = await sim.session();
    });
    // Message 1 plans and sends the 3 installs; message 2 carries their statuses (Exec accepted: enrolling).
    expect(log.messages).toHaveLength(2);
    expect(commandsOf(log).filter((c) => c === 'Atomic')).toHaveLength(3);
    expect(log.enrolled.map((e) => e.status)).toEqual([1, 1, 1]);
    expect(reads.assignmentsFor).toBe(1);
    const deliveries = await t.api.ok('GET', `/devices/${deviceId}/deliveries`);
    expect(deliveries.map((d: { state: string }) => d.state)).toEqual(['enrolling', 'enrolling', 'enrolling']);
    const state = (await t.gw.storage.getPlatformState(deviceId, 'windows')) as WindowsState;
    expect(Object.values(state.profiles!).map((p) => p.phase)).toEqual(['enrolling', 'enrolling', 'enrolling']);
    // The next session asks for their results, and plans (its state changed): all three installed.
    await sim.session();
    const after = await t.api.ok('GET', `/devices/${deviceId}/deliveries`);
    expect(after.map((d: { state: string }) => d.state)).toEqual(['installed', 'installed', 'installed']);
  });

  it('acts in the next session on a new assignment, a changed user attribute and a new profile version', async () => {
    const { sim, user, deviceId, specs } = await settledDevice(1);
    expect(commandsOf(await sim.session())).toEqual(['Get']);

    // A new assignment of a profile that needs a user attribute the user does not have: reported failed at once.
    const needs = await t.api.ok('POST', '/profiles', { name: `plan ${n} attr`, scope: 'device', subjectName: 'CN={{DeviceName}},OU={{OnPremisesDistinguishedName}}', scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: needs.id, userId: user.id });
    expect(commandsOf(await sim.session())).toEqual(['Get']);
    const failed = (await t.api.ok('GET', `/devices/${deviceId}/deliveries`)).find((d: { profileId: string }) => d.profileId === needs.id);
    expect(failed).toMatchObject({ state: 'failed', errorCode: 'ATTRIBUTE_MISSING' });

    // The attribute is set: the next session installs it.
    await t.api.ok('PATCH', `/users/${user.id}`, { attributes: { OnPremisesDistinguishedName: 'Staff' } }, 200);
    const installed = await sim.session();
    expect(installed.enrolled.map((e) => [e.node.endsWith(`mdmgw-${needs.id}`), e.status])).toEqual([[true, 1]]);
    expect(installed.messages.map((m) => m.raw).join('')).toContain(`CN=${sim.deviceName},OU=Staff`);
    await sim.session();
    expect(commandsOf(await sim.session())).toEqual(['Get']);

    // A new version of the first profile: re-issued by the next session.
    const first = specs[0]!;
    await t.api.ok('PUT', `/profiles/${first.id}`, { ...first.spec, subjectName: 'CN={{DeviceName}},OU=v2,O=Contoso' }, 200);
    const reissued = await sim.session();
    expect(reissued.enrolled.map((e) => [e.node.endsWith(`mdmgw-${first.id}`), e.status])).toEqual([[true, 1]]);
    expect(reissued.messages.map((m) => m.raw).join('')).toContain('OU=v2,O=Contoso');
  });
});

describe('Windows OMA-DM without device lease rows (issue 13)', () => {
  it('a message whose state another instance wrote meanwhile is refused with 503 and Retry-After, and that write is kept', async () => {
    const { sim, deviceId } = await settledDevice(1);
    const before = (await t.gw.storage.getPlatformState(deviceId, 'windows')) as WindowsState;
    // Another gateway instance (or a WSTEP renewal) writes the device's state between this message's read and its write.
    const storage = t.gw.storage as unknown as Record<string, unknown>;
    const original = t.gw.storage.putPlatformStateIfVersion;
    const own = Object.getOwnPropertyDescriptor(storage, 'putPlatformStateIfVersion');
    const other = { ...before, nodes: { ...before.nodes, './DevDetail/Ext/Microsoft/DeviceName': 'written-by-instance-b' } };
    storage.putPlatformStateIfVersion = async (...a: Parameters<typeof original>) => {
      await t.gw.storage.putPlatformState(deviceId, 'windows', other);
      return original.apply(t.gw.storage, a);
    };
    let r: Awaited<ReturnType<WindowsSimulator['post']>>;
    try {
      r = await sim.post(sim.message('777', 1, sim.firstPackage()));
    } finally {
      if (own) Object.defineProperty(storage, 'putPlatformStateIfVersion', own);
      else delete storage.putPlatformStateIfVersion;
    }
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/another gateway instance/);
    // Nothing of the refused message was applied; the other writer's state is whole (no lost update).
    const after = (await t.gw.storage.getPlatformState(deviceId, 'windows')) as WindowsState;
    expect(after).toEqual(other);
    expect(after.session!.id).toBe(before.session!.id);
    // The device's retry is served.
    expect(commandsOf(await sim.session())).toEqual(['Get']);
  });
});

describe('Windows delivery reports written per message (issue 13)', () => {
  it('a delivering session writes its 9 reports (pending, enrolling, installed for 3 profiles) in one transaction per message', async () => {
    const storage = t.gw.storage as unknown as Record<string, unknown>;
    const batches: string[][] = [];
    let single = 0;
    const saved = ['putDeliveryStatuses', 'putDeliveryStatusesWithState', 'putDeliveryStatus'].map((name) => ({ name, own: Object.getOwnPropertyDescriptor(storage, name) }));
    const batch = t.gw.storage.putDeliveryStatuses;
    const withState = t.gw.storage.putDeliveryStatusesWithState;
    const one = t.gw.storage.putDeliveryStatus;
    storage.putDeliveryStatuses = (entries: Parameters<typeof batch>[0]) => (batches.push(entries.map((e) => e.status.state)), batch.call(t.gw.storage, entries));
    // With the message's state, in its transaction (a message without reports writes its state alone).
    storage.putDeliveryStatusesWithState = (entries: Parameters<typeof withState>[0], write: Parameters<typeof withState>[1]) => (
      entries.length > 0 && batches.push(entries.map((e) => e.status.state)), withState.call(t.gw.storage, entries, write)
    );
    storage.putDeliveryStatus = (st: Parameters<typeof one>[0]) => (single++, one.call(t.gw.storage, st));
    let deviceId: string;
    try {
      ({ deviceId } = await settledDevice(3));
    } finally {
      for (const { name, own } of saved) {
        if (own) Object.defineProperty(storage, name, own);
        else delete storage[name];
      }
    }
    expect(single).toBe(0);
    // One batch per message that reported: the 3 pending with the Atomic installs, the 3 enrolling with
    // their Exec Status, the 3 installed with the next session's query answers.
    expect(batches).toEqual([['pending', 'pending', 'pending'], ['enrolling', 'enrolling', 'enrolling'], ['installed', 'installed', 'installed']]);
    const audit = (await t.gw.storage.listAudit({ type: 'device.report' })).filter((e) => e.actor === `device:${deviceId}`);
    expect(audit).toHaveLength(9);
  });
});

describe('Windows delivery reports with the state compare-and-set (issue 13)', () => {
  it('a message refused on a state conflict (503) leaves no report or audit record; its retry writes each once', async () => {
    const storage = t.gw.storage as unknown as Record<string, unknown>;
    const names = ['putDeliveryStatuses', 'putDeliveryStatusesWithState'] as const;
    const saved = names.map((name) => ({ name, own: Object.getOwnPropertyDescriptor(storage, name), original: t.gw.storage[name] as (...a: unknown[]) => Promise<unknown> }));
    let conflicted: string | null = null;
    // Another instance writes the device's state just before the first message with reports writes them (whichever way it does).
    for (const { name, original } of saved) {
      storage[name] = async (...a: unknown[]) => {
        const entries = a[0] as { status: { deviceId: string } }[];
        if (conflicted === null && entries.length > 0) {
          conflicted = entries[0]!.status.deviceId;
          const current = (await t.gw.storage.getPlatformState(conflicted, 'windows')) as WindowsState;
          await t.gw.storage.putPlatformState(conflicted, 'windows', { ...current, nodes: { ...current.nodes, './DevDetail/Ext/Microsoft/DeviceName': 'written-by-instance-b' } });
        }
        return original.apply(t.gw.storage, a);
      };
    }
    const refused: { reports: number; audit: number }[] = [];
    const post = WindowsSimulator.prototype.post;
    // The device sends a message refused with 503 again, as Windows does after Retry-After.
    WindowsSimulator.prototype.post = async function (this: WindowsSimulator, xml, headers) {
      const r = await post.call(this, xml, headers);
      if (r.status !== 503 || conflicted === null) return r;
      refused.push({
        reports: (await t.gw.storage.listDeliveryStatus({ deviceId: conflicted })).length,
        audit: (await t.gw.storage.listAudit({ type: 'device.report' })).filter((e) => e.actor === `device:${conflicted}`).length,
      });
      return post.call(this, xml, headers);
    };
    try {
      await settledDevice(1);
    } finally {
      WindowsSimulator.prototype.post = post;
      for (const { name, own } of saved) {
        if (own) Object.defineProperty(storage, name, own);
        else delete storage[name];
      }
    }
    expect(refused).toEqual([{ reports: 0, audit: 0 }]);
    const audit = (await t.gw.storage.listAudit({ type: 'device.report' })).filter((e) => e.actor === `device:${conflicted}`);
    expect(audit.map((e) => (e.details as { state: string }).state).sort()).toEqual(['enrolling', 'installed', 'pending']);
  });
});
