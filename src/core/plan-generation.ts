import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Storage } from './storage/storage.js';

// A check-in with nothing to do should not recompute the device's whole plan
// (issue 13). What a plan depends on lives in many tables (profiles and their
// versions, assignments, groups and members, users and their directory
// attributes, devices, issued and revoked certificates): rather than hook
// every admin route, directory sync and lifecycle job, the storage the gateway
// hands out bumps one "plan generation" after every write that could change a
// plan, and a check-in answers from its cached plan only while the generation
// it read is the one the plan was made under (core/checkin-cache.ts).
//
// The generation is a setting in the database, so every instance on it sees
// another's change at its next check-in. It is read before a plan's inputs and
// bumped after the write committed, so a plan made from data older than a
// change is never stored under the generation that follows it.
//
// Which writes bump: all of them, except the few listed below that no plan
// reads (or that the check-in reads itself: the platform state, the command
// queue). A storage method added later bumps until someone decides otherwise:
// a needless bump costs one recomputation, a missing one a stale plan.

export const PLAN_GENERATION_SETTING = 'core.plan-generation';

/** Reads by name (they change nothing). */
const READ = /^(get|list|find|count|is|peek|groupsOf|assignmentsFor|lastExpiryByIssuer|nextCommand|pendingMigrations|revokedSetState)/;

/** Writes no plan depends on: audit, leases, per-device protocol state and command queue (keyed or read by the check-in itself), delivery reports, settings, tokens, CRL numbers, housekeeping purges, upstream polling. */
const NO_PLAN_INPUT = new Set<string>([
  'close',
  'migrate',
  'appendAudit',
  'purgeAudit',
  'tryLease',
  'releaseLease',
  'putPlatformState',
  'putPlatformStateIfVersion',
  'enqueueCommand',
  'updateCommand',
  'purgeAnsweredCommands',
  'putDeliveryStatus',
  'putSetting',
  'putKeyMaterial',
  'createEnrollmentToken',
  'consumeEnrollmentToken',
  'noteIdentityRenewalChallenge',
  'purgeExpiredChallenges',
  'nextCrlNumber',
  'addUpstreamRequest',
  'rescheduleUpstreamRequest',
  'removeUpstreamRequest',
]);

/** Whether a call of this storage method may change some device's plan. */
export function bumpsPlanGeneration(method: string): boolean {
  return !READ.test(method) && !NO_PLAN_INPUT.has(method);
}

export interface PlanGeneration {
  /** The storage to hand out: every plan-changing write bumps the generation once it succeeded. */
  storage: Storage;
  /** The generation now (one read of the database). */
  current(): Promise<string>;
}

export function planGeneration(inner: Storage, log: Pick<Logger, 'error'>): PlanGeneration {
  // Raised when a bump could not be written: this instance's plans are dropped
  // at least (the others see the change at their next bump or when their
  // plans age out: core/checkin-cache.ts).
  let localEpoch = 0;
  const bump = async (method: string) => {
    localEpoch += 1;
    try {
      await inner.putSetting(PLAN_GENERATION_SETTING, randomUUID());
    } catch (err) {
      log.error({ err, method }, 'could not record the plan generation after a change; other instances may serve their cached plans until they expire');
    }
  };
  const storage = new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      // Bound to the real storage: its methods use private fields a proxy does not have.
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      if (typeof prop !== 'string' || !bumpsPlanGeneration(prop)) return fn;
      return async (...args: unknown[]) => {
        const result = await fn(...args);
        await bump(prop);
        return result;
      };
    },
  });
  return { storage, current: async () => `${localEpoch}:${(await inner.getSetting(PLAN_GENERATION_SETTING)) ?? ''}` };
}
