import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { DeleteUserResult, Storage } from './storage/storage.js';
import { PLAN_GENERATION_SETTING, type PlanGenerations } from './storage/plan-generation-store.js';
import type { MemberRef, PendingRemoval } from './model.js';

// A check-in with nothing to do should not recompute the device's whole plan
// (issue 13). What a plan depends on lives in many tables (profiles and their
// versions, assignments, groups and members, users and their directory
// attributes, devices, issued and revoked certificates): rather than hook
// every admin route, directory sync and lifecycle job, the storage the gateway
// hands out bumps a "plan generation" after every write that could change a
// plan, and a check-in answers from its cached plan only while the
// generations it read are the ones the plan was made under
// (core/checkin-cache.ts).
//
// Two generations, both in the database so every instance sees another's
// change at its next check-in (storage/plan-generation-store.ts, one read):
// - per device (devices.plan_generation, migration 0018): writes that change
//   only some devices' plans bump just those: a certificate issued to or
//   revoked for a device (inside the issuing or revoking transaction:
//   kysely/issuance.ts, kysely/revocation.ts), the device record and its
//   lifecycle marks, its pending removals, its group memberships; a user's
//   own fields and memberships bump the devices whose primary user it is.
//   So a fleet enrolling all day keeps every other device's cached answer.
// - global (a setting): everything else that may change a plan (profiles and
//   versions, assignments, groups, directory sync of many users, CAs...).
//
// Read before a plan's inputs and bumped after (or with) the write's commit,
// so a plan made from data older than a change is never stored under the
// generations that follow it.
//
// Which writes bump what: reads and the few writes no plan reads bump
// nothing; SCOPES below names the writes whose scope is known; every other
// write, including a storage method added later, bumps the global
// generation until someone decides otherwise: a needless bump costs one
// recomputation per device, a missing one a stale plan.

export { PLAN_GENERATION_SETTING } from './storage/plan-generation-store.js';

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
  'recordCommandExchange',
  'purgeAnsweredCommands',
  'putDeliveryStatus',
  'putDeliveryStatuses',
  'putDeliveryStatusesWithState',
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
  // Plan generations themselves.
  'bumpDevicePlanGenerations',
  'bumpUserPlanGenerations',
]);

/** Whether a call of this storage method may change some device's plan. */
export function bumpsPlanGeneration(method: string): boolean {
  return !READ.test(method) && !NO_PLAN_INPUT.has(method);
}

/**
 * What a plan-changing write bumps once it succeeded: the global generation,
 * some devices', the devices of one user, or nothing more (the write bumped
 * its devices inside its own transaction, or changed nothing a plan reads).
 */
export type PlanScope = { kind: 'global' } | { kind: 'devices'; ids: readonly string[] } | { kind: 'user'; id: string } | { kind: 'none' };

const GLOBAL: PlanScope = { kind: 'global' };
const NONE: PlanScope = { kind: 'none' };
const device = (id: unknown): PlanScope => (typeof id === 'string' ? { kind: 'devices', ids: [id] } : GLOBAL);
const member = (m: unknown): PlanScope => {
  const ref = m as Partial<{ userId: string; deviceId: string }> | undefined;
  if (typeof ref?.deviceId === 'string') return device(ref.deviceId);
  if (typeof ref?.userId === 'string') return { kind: 'user', id: ref.userId };
  return GLOBAL;
};

/** Writes whose scope is known (from their arguments, or their result). The rest bump the global generation. */
const SCOPES: Record<string, (args: readonly unknown[], result: unknown) => PlanScope> = {
  // Bumped in their own transaction, only the devices holding the certificate (kysely/issuance.ts, kysely/revocation.ts).
  recordEnrollment: () => NONE,
  completeEnrollment: () => NONE,
  revokeCertificate: () => NONE,
  revokeCertificateChain: () => NONE,
  revokePendingRemoval: () => NONE,
  // Bumps the devices whose removals it dropped in its own transaction (kysely/issuance.ts): the caller names serials, not devices.
  cancelPendingRemovals: () => NONE,
  // No plan reads enrollment rows; a refused pending enrollment issued nothing.
  rejectEnrollment: () => NONE,
  // A device that did not exist has no cached answer, and no other device's plan reads its row
  // (a reported-value conflict is written to the other device through setDeviceReported).
  createDevice: () => NONE,
  // The device's own record, lifecycle marks, memberships and assignments (their
  // revocations bump the holders in the same transaction: kysely/revocation.ts).
  updateDevice: (a) => device(a[0]),
  setDeviceReported: (a) => device(a[0]),
  blockDevice: (a) => device(a[0]),
  unblockDevice: (a) => device(a[0]),
  retireDevice: (a) => device(a[0]),
  beginRetireDevice: (a) => device(a[0]),
  deleteDevice: (a) => device(a[0]),
  revokeDeviceCertificates: (a) => device(a[0]),
  addPendingRemovals: (a) => {
    const entries = a[0] as readonly Pick<PendingRemoval, 'deviceId'>[] | undefined;
    return Array.isArray(entries) && entries.every((e) => typeof e?.deviceId === 'string') ? { kind: 'devices', ids: entries.map((e) => e.deviceId) } : GLOBAL;
  },
  // Groups are flat (core/assignments.ts): a membership reaches the member's plan only.
  addGroupMember: (a) => member(a[1] as MemberRef),
  removeGroupMember: (a) => member(a[1] as MemberRef),
  // A user's fields (attributes, name, enabled) reach the plans of the devices whose primary user it is.
  updateUser: (a) => (typeof a[0] === 'string' ? { kind: 'user', id: a[0] } : GLOBAL),
  renameUser: (a) => (typeof a[0] === 'string' ? { kind: 'user', id: a[0] } : GLOBAL),
  // Deleting clears the user from its devices first: the result names them.
  deleteUser: (_a, r) => {
    const result = r as DeleteUserResult | undefined;
    if (!result) return GLOBAL;
    return result.ok ? { kind: 'devices', ids: result.devices } : NONE;
  },
};

/** What the successful call `method(...args)` returning `result` bumps (global when not known). */
export function planScope(method: string, args: readonly unknown[], result: unknown): PlanScope {
  if (!bumpsPlanGeneration(method)) return NONE;
  const scope = SCOPES[method];
  return scope ? scope(args, result) : GLOBAL;
}

export interface PlanGeneration {
  /** The storage to hand out: every plan-changing write bumps a generation once it succeeded. */
  storage: Storage;
  /**
   * The generations the device's cached answer is keyed by, now (one read of
   * the database); `read`: the generations the request's identity read
   * returned in its own statement (getCertificateWithDevice), used instead of
   * a read of their own. Both are read before the plan's inputs.
   */
  current(deviceId: string, read?: PlanGenerations): Promise<string>;
  /** This instance's epoch, raised when a bump could not be written (part of every key current() gives). */
  epoch(): number;
}

export function planGeneration(inner: Storage, log: Pick<Logger, 'error'>): PlanGeneration {
  // Raised when a bump could not be written: this instance's plans are dropped
  // at least (the others see the change at their next bump or when their
  // plans age out: core/checkin-cache.ts).
  let localEpoch = 0;
  const bump = async (method: string, scope: PlanScope) => {
    if (scope.kind === 'none') return;
    try {
      if (scope.kind === 'devices') await inner.bumpDevicePlanGenerations(scope.ids);
      else if (scope.kind === 'user') await inner.bumpUserPlanGenerations(scope.id);
      else await inner.putSetting(PLAN_GENERATION_SETTING, randomUUID());
    } catch (err) {
      localEpoch += 1;
      log.error({ err, method }, 'could not record the plan generation after a change; other instances may serve their cached plans until they expire');
    }
  };
  // One wrapper per method, made at its first call, not one (and a regex test) per call: an enrollment makes a dozen storage calls (issue 13).
  const wrappers = new Map<string | symbol, { of: unknown; fn: unknown }>();
  const storage = new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const kept = wrappers.get(prop);
      if (kept?.of === value) return kept.fn;
      // Bound to the real storage: its methods use private fields a proxy does not have.
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      const wrapper =
        typeof prop !== 'string' || !bumpsPlanGeneration(prop)
          ? fn
          : async (...args: unknown[]) => {
              const result = await fn(...args);
              await bump(prop, planScope(prop, args, result));
              return result;
            };
      wrappers.set(prop, { of: value, fn: wrapper });
      return wrapper;
    },
  });
  return {
    storage,
    current: async (deviceId: string, read?: PlanGenerations) => {
      const g = read ?? (await inner.getPlanGenerations(deviceId));
      return `${localEpoch}:${g.global ?? ''}:${g.device ?? '-'}`;
    },
    epoch: () => localEpoch,
  };
}
