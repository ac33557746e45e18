import type { AdapterServices } from '../../core/adapter.js';

// One writer per device at a time (core/device-lock.ts: across every gateway
// instance on the database). The adapter's device state is one JSON document,
// read, changed and written back; a device's own requests come one after
// another, but an admin change (onDevicesChanged runs fire-and-forget after the
// admin's call) can plan for a device while it is in the middle of a session,
// possibly on another instance. Every entry point that changes the state
// (check-in, connect, admin sync, devices-changed, the push result) runs under
// this lock, so two plans cannot queue the same InstallProfile twice or
// overwrite each other's records. Not re-entrant: take it at entry points only,
// never inside syncDevice, and never await a push while holding it.

export function withDeviceLock<T>(s: Pick<AdapterServices, 'deviceLock'>, deviceId: string, fn: () => Promise<T>): Promise<T> {
  return s.deviceLock(deviceId, fn);
}
