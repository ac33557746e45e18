import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeviceBusyError, DeviceStateConflictError, inProcessDeviceLock, sharedDeviceLock, versionedStateWriter, type DeviceLock } from '../../src/core/device-lock.js';
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';
import type { Storage } from '../../src/core/storage/storage.js';

// Two gateway instances (two lock holders) on one database: a device's
// read-modify-write of its adapter state is serialised across them.

describe('sharedDeviceLock', () => {
  let dir: string;
  let storage: Storage;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mdmgw-devlock-'));
    storage = await openSqliteStorage(join(dir, 'shared.sqlite'));
  });
  afterEach(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // A read, a pause (another request's turn), a write: what adapters do with their state.
  const bump = async (deviceId: string) => {
    const n = ((await storage.getPlatformState(deviceId, 'apple'))?.n as number | undefined) ?? 0;
    await new Promise((r) => setTimeout(r, 2));
    await storage.putPlatformState(deviceId, 'apple', { n: n + 1 });
  };
  const race = async (a: DeviceLock, b: DeviceLock, deviceId: string) =>
    Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b)(deviceId, () => bump(deviceId))));

  it('two instances updating one device lose no update', async () => {
    const d = await storage.createDevice({ name: 'phone', platform: 'ios' });
    await race(sharedDeviceLock(storage, 'instance-a'), sharedDeviceLock(storage, 'instance-b'), d.id);
    expect(await storage.getPlatformState(d.id, 'apple')).toEqual({ n: 20 });
    // Every lease was given back.
    expect(await storage.tryLease(`device:${d.id}`, 'someone', 1000, new Date().toISOString())).toBe(true);
  });

  it('(without the shared lease, per-process locks alone lose updates)', async () => {
    const d = await storage.createDevice({ name: 'phone', platform: 'ios' });
    const { inProcessDeviceLock } = await import('../../src/core/device-lock.js');
    await race(inProcessDeviceLock(), inProcessDeviceLock(), d.id);
    expect((await storage.getPlatformState(d.id, 'apple'))?.n).toBeLessThan(20);
  });

  it('other devices are not held up, and a holder that outstays the wait gets DeviceBusyError', async () => {
    const a = sharedDeviceLock(storage, 'instance-a');
    const b = sharedDeviceLock(storage, 'instance-b', { waitMs: 200 });
    let release!: () => void;
    const held = a('dev-1', () => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 50));
    expect(await b('dev-2', async () => 'other device')).toBe('other device');
    await expect(b('dev-1', async () => 'never')).rejects.toThrow(DeviceBusyError);
    release();
    await held;
    expect(await b('dev-1', async () => 'now')).toBe('now');
  });

  it('a lease left by an instance that died expires, and the device is served again', async () => {
    await storage.tryLease('device:dev-9', 'dead-instance', 150, new Date().toISOString());
    const b = sharedDeviceLock(storage, 'instance-b', { waitMs: 2000 });
    const started = Date.now();
    expect(await b('dev-9', async () => 'served')).toBe('served');
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  // The Windows OMA-DM endpoint's way (issue 13): each instance's in-process
  // lock only, and the state written compare-and-set on the version it read.
  const casBump = async (lock: DeviceLock, deviceId: string, onConflict: () => void) => {
    for (;;) {
      try {
        return await lock(deviceId, async () => {
          const read = await storage.getPlatformStateVersioned(deviceId, 'windows');
          const n = (read.state?.n as number | undefined) ?? 0;
          await new Promise((r) => setTimeout(r, 2));
          await versionedStateWriter(deviceId, read, (id, st, v) => storage.putPlatformStateIfVersion(id, 'windows', st, v))({ n: n + 1 });
        });
      } catch (e) {
        if (!(e instanceof DeviceStateConflictError)) throw e;
        onConflict(); // what the device does on 503: send the message again
      }
    }
  };

  it('without lease rows, two instances writing compare-and-set lose no update: the later writer is refused and retries', async () => {
    const d = await storage.createDevice({ name: 'pc', platform: 'windows' });
    const [a, b] = [inProcessDeviceLock(), inProcessDeviceLock()];
    let conflicts = 0;
    await Promise.all(Array.from({ length: 20 }, (_, i) => casBump(i % 2 ? a : b, d.id, () => conflicts++)));
    expect(await storage.getPlatformState(d.id, 'windows')).toEqual({ n: 20 });
    expect(conflicts).toBeGreaterThan(0); // the two really raced
    expect(new DeviceStateConflictError(d.id)).toBeInstanceOf(DeviceBusyError); // answered 503 + Retry-After
  });

  it('a leased writer (putPlatformState) in between is seen by the compare-and-set writer', async () => {
    const d = await storage.createDevice({ name: 'pc', platform: 'windows' });
    await storage.putPlatformState(d.id, 'windows', { n: 1 });
    const read = await storage.getPlatformStateVersioned(d.id, 'windows');
    const write = versionedStateWriter(d.id, read, (id, st, v) => storage.putPlatformStateIfVersion(id, 'windows', st, v));
    await storage.putPlatformState(d.id, 'windows', { n: 1, renewal: 'kept' });
    await expect(write({ n: 2 })).rejects.toThrow(DeviceStateConflictError);
    expect(await storage.getPlatformState(d.id, 'windows')).toEqual({ n: 1, renewal: 'kept' });
  });

  it('writes nothing when the state is unchanged, and writes again after its own write', async () => {
    const d = await storage.createDevice({ name: 'pc', platform: 'windows' });
    await storage.putPlatformState(d.id, 'windows', { n: 1, nodes: { a: 'b' } });
    const calls: number[] = [];
    const put = (id: string, st: Record<string, unknown>, v: number) => (calls.push(v), storage.putPlatformStateIfVersion(id, 'windows', st, v));
    const write = versionedStateWriter(d.id, await storage.getPlatformStateVersioned(d.id, 'windows'), put);
    expect(await write({ n: 1, nodes: { a: 'b' } })).toBe(false);
    expect(calls).toEqual([]);
    expect(await write({ n: 2, nodes: { a: 'b' } })).toBe(true);
    expect(await write({ n: 3, nodes: { a: 'b' } })).toBe(true); // its own version moved on with its write
    expect(calls).toEqual([1, 2]);
    expect(await storage.getPlatformState(d.id, 'windows')).toEqual({ n: 3, nodes: { a: 'b' } });
  });

  it('sharedDeviceLock exposes its in-process layer, which takes no lease', async () => {
    const lock = sharedDeviceLock(storage, 'instance-a');
    let held = false;
    await lock.local!('dev-5', async () => {
      held = !(await storage.tryLease('device:dev-5', 'instance-b', 1000, new Date().toISOString()));
    });
    expect(held).toBe(false);
  });
});
