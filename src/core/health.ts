// Health of the gateway's parts (operations issue #14, item 2): what
// GET /api/v1/health lists, what an adapter's optional health() hook returns,
// and the evaluations that do not need I/O (certificate lifetimes, the clock).

export const HEALTH_STATUSES = ['ok', 'warning', 'error'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

export interface ComponentHealth {
  /** e.g. `database`, `ca-certificate`, `scep:<url>`, `apple.push-certificate`. */
  component: string;
  status: HealthStatus;
  /** One sentence an operator can act on. */
  message: string;
  /** Facts behind the status (expiry dates, latencies); never a key, a challenge or a token. */
  details?: Record<string, unknown>;
}

/** A certificate this close to its notAfter is a warning (renew it now). */
export const EXPIRY_WARNING_DAYS = 30;
/** How far the process clock may lag the newest timestamp the database holds before it is called back-stepped. */
export const CLOCK_SKEW_TOLERANCE_MS = 5 * 60_000;

const DAY_MS = 86_400_000;

export function worst(statuses: Iterable<HealthStatus>): HealthStatus {
  let w: HealthStatus = 'ok';
  for (const s of statuses) if (HEALTH_STATUSES.indexOf(s) > HEALTH_STATUSES.indexOf(w)) w = s;
  return w;
}

/**
 * A certificate's lifetime: error before notBefore or after notAfter, warning
 * within `warnDays` of notAfter. `daysToExpiry` is rounded down.
 */
export function certificateLifetime(
  component: string,
  what: string,
  validity: { notBefore: Date; notAfter: Date },
  now: Date,
  extra: Record<string, unknown> = {},
  warnDays = EXPIRY_WARNING_DAYS,
): ComponentHealth {
  const daysToExpiry = Math.floor((validity.notAfter.getTime() - now.getTime()) / DAY_MS);
  const details = { ...extra, notBefore: validity.notBefore.toISOString(), notAfter: validity.notAfter.toISOString(), daysToExpiry };
  if (now < validity.notBefore) return { component, status: 'error', message: `${what} is not valid until ${details.notBefore}: is the clock right?`, details };
  if (now > validity.notAfter) return { component, status: 'error', message: `${what} expired on ${details.notAfter}`, details };
  if (daysToExpiry < warnDays) return { component, status: 'warning', message: `${what} expires in ${daysToExpiry} days (${details.notAfter}): renew it`, details };
  return { component, status: 'ok', message: `${what} valid for ${daysToExpiry} more days`, details };
}

/**
 * Clock sanity without an outside time source. A clock before our CA's
 * notBefore (a reset RTC, a VM restored from an old snapshot) makes every
 * certificate we issue not yet valid: error. A clock behind the newest
 * timestamp the database recorded (beyond a tolerance) has stepped back:
 * challenge expiry, audit order and renewal timing are then wrong: warning.
 */
export function clockHealth(now: Date, caNotBefore: Date, newestRecorded: Date | null): ComponentHealth {
  const details = { now: now.toISOString(), caNotBefore: caNotBefore.toISOString(), newestRecorded: newestRecorded?.toISOString() ?? null };
  if (now < caNotBefore) return { component: 'clock', status: 'error', message: `the clock (${details.now}) is before the CA was created (${details.caNotBefore}): every certificate issued now would be not yet valid`, details };
  if (newestRecorded && newestRecorded.getTime() - now.getTime() > CLOCK_SKEW_TOLERANCE_MS) {
    return { component: 'clock', status: 'warning', message: `the clock (${details.now}) is behind the newest record in the database (${details.newestRecorded}): it stepped back`, details };
  }
  return { component: 'clock', status: 'ok', message: 'the clock is after the CA was created and not behind the database', details };
}
