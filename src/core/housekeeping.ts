import type { Logger } from '../log.js';
import type { Storage } from './storage/storage.js';

// Periodic upkeep: a used challenge only has to be remembered until it would
// have expired anyway (after that the signature check refuses it as
// CHALLENGE_EXPIRED), so older records are purged and the table stays small.

export const HOUSEKEEPING_INTERVAL_MS = 60 * 60 * 1000;

export function startHousekeeping(storage: Storage, log: Logger, intervalMs = HOUSEKEEPING_INTERVAL_MS): { runNow(): Promise<number>; stop(): void } {
  const runNow = async () => {
    const purged = await storage.purgeExpiredChallenges(new Date().toISOString());
    if (purged > 0) log.info({ purged }, 'purged used challenges past their expiry');
    return purged;
  };
  const timer = setInterval(() => {
    runNow().catch((err: unknown) => log.error({ err }, 'housekeeping failed'));
  }, intervalMs);
  timer.unref(); // never keeps the process alive on its own
  return { runNow, stop: () => clearInterval(timer) };
}
