import type { AdapterServices, PlatformAdapter } from './adapter.js';
import type { Device } from './model.js';
import type { Logger } from '../log.js';

// Tells adapters, after an admin change has committed, which devices may now
// get different profiles. Fire and forget: the admin's call does not wait for
// pushes, and an adapter's failure is logged, never surfaced as a 500.

export type DeviceChangeListener = (devices: Promise<Device[]> | Device[]) => void;

/**
 * `first` runs before the adapters hear about the change (core's own
 * follow-up: the pending removals of core/removals.ts); its failure is logged
 * and the adapters are still told.
 */
export function deviceChangeNotifier(
  adapters: { adapter: PlatformAdapter; services: AdapterServices }[],
  log: Logger,
  first?: (devices: Device[]) => Promise<void>,
): DeviceChangeListener & { idle(): Promise<void> } {
  const pending = new Set<Promise<void>>();
  const notify = (devices: Promise<Device[]> | Device[]) => {
    const run = (async () => {
      const list = await devices;
      if (first) await first(list).catch((err: unknown) => log.error({ err, devices: list.map((d) => d.id) }, 'could not update pending removals after a change'));
      for (const { adapter, services } of adapters) {
        if (!adapter.onDevicesChanged) continue;
        const mine = list.filter((d) => adapter.platforms.includes(d.platform));
        if (mine.length === 0) continue;
        try {
          await adapter.onDevicesChanged(mine, services);
        } catch (err) {
          log.error({ err, adapter: adapter.name, devices: mine.map((d) => d.id) }, 'adapter could not act on a device change');
        }
      }
    })().catch((err: unknown) => log.error({ err }, 'could not work out which devices a change affects'));
    pending.add(run);
    void run.finally(() => pending.delete(run));
  };
  /** Resolves once every notification started so far has finished (shutdown, tests). */
  const idle = async () => {
    while (pending.size) await Promise.all([...pending]);
  };
  return Object.assign(notify, { idle });
}
