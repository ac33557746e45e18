import type { AdapterServices } from '../../core/adapter.js';
import { CheckinCache } from '../../core/checkin-cache.js';
import { renewalDueTime } from './renewal.js';
import type { WindowsState } from './state.js';

// A Windows session with nothing to do should not plan at all when nothing
// changed (issue 13). The plan reads core's inputs (assignments, profiles, the
// user, the device's certificates and pending removals) and this adapter's
// state; when a plan concluded "nothing to deliver, nothing to remove, nothing
// to report", that conclusion is kept per device with what it depended on:
// - the device's and the global plan generation (core/plan-generation.ts),
//   read from the database before the plan's inputs: an assignment, a profile
//   version, a user attribute, a certificate issued or revoked for the device,
//   whichever instance wrote it, changes them;
// - planKey() of the adapter state the plan reads (tracked profiles, OS
//   version, undeliverable marks, roots held, the session's login status...):
//   another instance's or a renewal's write of those changes it;
// - the earliest time the plan's conclusion turns by itself: an installed
//   certificate entering its renewal window (quietUntil); every entry also ends
//   CHECKIN_CACHE_MAX_AGE_MS after it was made (core/checkin-cache.ts), which
//   bounds what time does that no key holds (a pending removal's grace, an
//   upstream chain arriving), as for the kept Android and Apple answers.
// Nothing else is skipped: identity, MsgIDs and the state write run as before.

const memos = new WeakMap<AdapterServices, CheckinCache<true>>();

/** The adapter's kept "nothing to do" conclusions, per device (one per mounted adapter's services). */
export function planMemoFor(s: AdapterServices): CheckinCache<true> {
  let m = memos.get(s);
  if (!m) memos.set(s, (m = new CheckinCache<true>()));
  return m;
}

/** The memo's key: the plan generations and the adapter state's plan key. */
export function memoKey(generation: string, planKey: string): string {
  return `${generation}|${planKey}`;
}

/** When the first installed profile enters its renewal window (ms since the epoch); +Infinity when none will. */
export function quietUntil(state: WindowsState): number {
  return Math.min(...Object.values(state.profiles ?? {}).map(renewalDueTime));
}
