import type { Logger } from '../log.js';
import type { IssuanceStore, CommandStore, AuditStore } from './storage/storage.js';

// Periodic upkeep, so that nothing a client can make the gateway write grows
// without bound:
// - a used challenge only has to be remembered until it would have expired
//   anyway (after that the signature check refuses it as CHALLENGE_EXPIRED);
// - audit records are kept for MDMGW_AUDIT_RETENTION_DAYS;
// - answered device commands (history) are kept for the same time, and at most
//   the newest COMMANDS_KEPT_PER_DEVICE per device: a device that keeps
//   answering cannot grow its history (every check-in lists it) without bound;
// - certificates of profiles removed from devices whose grace period ended are
//   revoked (core/removals.ts), also for devices that never check in again;
// - retiring devices whose grace period ended are retired (core/retirement.ts).

export const HOUSEKEEPING_INTERVAL_MS = 60 * 60 * 1000;
export const COMMANDS_KEPT_PER_DEVICE = 100;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface HousekeepingOptions {
  auditRetentionDays: number;
  intervalMs?: number;
  now?: () => Date;
  /** The removal sweep (core/removals.ts); returns how many certificates it revoked. */
  sweepRemovals?: (now: Date) => Promise<number>;
  /** The retirement sweep (core/retirement.ts); returns how many retiring devices it retired. */
  sweepRetirements?: (now: Date) => Promise<number>;
}

export interface HousekeepingRun {
  challenges: number;
  auditEvents: number;
  commands: number;
  /** Certificates revoked because their profile's removal grace period ended. */
  removalsRevoked: number;
  /** Retiring devices retired because their removal grace period ended. */
  retirementsCompleted: number;
}

export function startHousekeeping(storage: IssuanceStore & CommandStore & AuditStore, log: Logger, opts: HousekeepingOptions): { runNow(): Promise<HousekeepingRun>; stop(): void } {
  const clock = opts.now ?? (() => new Date());
  const runNow = async (): Promise<HousekeepingRun> => {
    const now = clock();
    const retainedFrom = new Date(now.getTime() - opts.auditRetentionDays * DAY_MS).toISOString();
    const run = {
      challenges: await storage.purgeExpiredChallenges(now.toISOString()),
      auditEvents: await storage.purgeAudit(retainedFrom),
      commands: await storage.purgeAnsweredCommands(retainedFrom, COMMANDS_KEPT_PER_DEVICE),
      removalsRevoked: opts.sweepRemovals ? await opts.sweepRemovals(now) : 0,
      retirementsCompleted: opts.sweepRetirements ? await opts.sweepRetirements(now) : 0,
    };
    if (run.challenges + run.auditEvents + run.commands > 0) log.info({ ...run, retainedFrom }, 'housekeeping purged old records');
    return run;
  };
  const timer = setInterval(() => {
    runNow().catch((err: unknown) => log.error({ err }, 'housekeeping failed'));
  }, opts.intervalMs ?? HOUSEKEEPING_INTERVAL_MS);
  timer.unref(); // never keeps the process alive on its own
  return { runNow, stop: () => clearInterval(timer) };
}
