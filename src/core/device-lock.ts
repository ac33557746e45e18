import type { Storage } from './storage/storage.js';

// One writer per device at a time, across every gateway instance on the
// database. An adapter's device state is one JSON document that a request
// reads, changes and writes back, and an admin change (devices-changed) can
// plan for a device in the middle of its session: without this, two instances
// (or two requests in one) would each write their own copy and one update
// would be lost (a command queued twice, a status forgotten).
//
// Two layers: an in-process queue per device (so one process's waiters do not
// all poll the database), then the lease `device:<id>` in the leases table
// (atomic on SQLite and PostgreSQL; the holder renews it while it works, and
// it expires by itself when an instance dies holding it). Not re-entrant: take
// it at request entry points only.
//
// A handler whose only shared write is its state document can do without the
// lease rows (two commits per request): `local` (the in-process layer alone)
// plus `versionedStateWriter`, which writes the state compare-and-set on the
// version it read. Another instance's write in between makes the write fail
// with DeviceBusyError (503, the device retries) instead of being lost. The
// Windows OMA-DM endpoint does this (issue 13); every other writer of a
// device's state bumps the version (putPlatformState), so it is seen.

export type DeviceLock = (<T>(deviceId: string, fn: () => Promise<T>) => Promise<T>) & {
  /** The per-process layer alone (for a handler that writes its state compare-and-set). */
  readonly local?: <T>(deviceId: string, fn: () => Promise<T>) => Promise<T>;
};

/** Lease length; renewed every third of it while held. */
export const DEVICE_LEASE_TTL_MS = 30_000;
/** How long a request waits for another instance's session of the same device. */
export const DEVICE_LEASE_WAIT_MS = 20_000;
const POLL_MS = 15;

export class DeviceBusyError extends Error {
  constructor(deviceId: string) {
    super(`device ${deviceId} is busy in another gateway instance's session; try again`);
    this.name = 'DeviceBusyError';
  }
}

/** The per-process layer alone (a test world without a database lease). */
export function inProcessDeviceLock(): DeviceLock {
  const tails = new Map<string, Promise<void>>();
  return async <T>(deviceId: string, fn: () => Promise<T>): Promise<T> => {
    const prev = tails.get(deviceId) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = prev.then(() => mine);
    tails.set(deviceId, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (tails.get(deviceId) === tail) tails.delete(deviceId);
    }
  };
}

export function sharedDeviceLock(storage: Pick<Storage, 'tryLease' | 'releaseLease'>, holder: string, opts: { ttlMs?: number; waitMs?: number } = {}): DeviceLock {
  const local = inProcessDeviceLock();
  const ttl = opts.ttlMs ?? DEVICE_LEASE_TTL_MS;
  const wait = opts.waitMs ?? DEVICE_LEASE_WAIT_MS;
  const take = () => storage.tryLease.bind(storage);
  const lock = <T>(deviceId: string, fn: () => Promise<T>): Promise<T> =>
    local(deviceId, async () => {
      const name = `device:${deviceId}`;
      const tryLease = take();
      const deadline = Date.now() + wait;
      while (!(await tryLease(name, holder, ttl, new Date().toISOString()))) {
        if (Date.now() > deadline) throw new DeviceBusyError(deviceId);
        await new Promise((r) => setTimeout(r, POLL_MS + Math.floor(Math.random() * POLL_MS)));
      }
      const renew = setInterval(() => void tryLease(name, holder, ttl, new Date().toISOString()).catch(() => undefined), ttl / 3);
      renew.unref();
      try {
        return await fn();
      } finally {
        clearInterval(renew);
        await storage.releaseLease(name, holder);
      }
    });
  return Object.assign(lock, { local });
}

/** Another instance wrote the device's state since this request read it: nothing of this request's state was written. */
export class DeviceStateConflictError extends DeviceBusyError {
  constructor(deviceId: string) {
    super(deviceId);
    this.message = `device ${deviceId} state changed in another gateway instance's session meanwhile; try again`;
    this.name = 'DeviceStateConflictError';
  }
}

export interface VersionedState {
  state: Record<string, unknown> | null;
  version: number;
}

/**
 * The write half of an optimistic device section: `write(state)` stores the
 * state only if nobody wrote it since `read` (compare-and-set on its version),
 * and not at all when it is unchanged from what was read or last written
 * (a message that changed nothing costs no commit). Throws
 * DeviceStateConflictError on a conflict. Call it under `local` so two
 * requests of one process queue instead of conflicting.
 */
export function versionedStateWriter(
  deviceId: string,
  read: VersionedState,
  putIfVersion: (deviceId: string, state: Record<string, unknown>, expectedVersion: number) => Promise<boolean>,
): (state: Record<string, unknown>) => Promise<boolean> {
  let version = read.version;
  let stored = read.state === null ? null : JSON.stringify(read.state);
  return async (state) => {
    const json = JSON.stringify(state);
    if (json === stored) return false;
    if (!(await putIfVersion(deviceId, state, version))) throw new DeviceStateConflictError(deviceId);
    version += 1;
    stored = json;
    return true;
  };
}
