// One writer per device at a time, inside this process. The adapter's device
// state is one JSON document, read, changed and written back; a device's own
// requests come one after another, but an admin change (onDevicesChanged runs
// fire-and-forget after the admin's call) can plan for a device while it is in
// the middle of a session. Every entry point that changes the state (check-in,
// connect, admin sync, devices-changed, the push result) runs under this lock,
// so two plans cannot queue the same InstallProfile twice or overwrite each
// other's records. Not re-entrant: take it at entry points only, never inside
// syncDevice, and never await a push while holding it. Several gateway
// processes on one database are not covered (storage has no compare-and-set).

const tails = new Map<string, Promise<void>>();

export async function withDeviceLock<T>(deviceId: string, fn: () => Promise<T>): Promise<T> {
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
}
