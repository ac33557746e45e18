import type { Evidence } from '../evidence.js';
import { ok, problem, type Finding } from '../finding.js';

// Certificates are judged by the clock: a server whose clock is off issues
// certificates not yet valid (or already expired) on devices, and SCEP
// clients refuse a CertRep signed by an RA that is not valid to them.

/** More skew than this between this machine and the server's Date header is a problem. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

export function checkClock(ev: Evidence): Finding[] {
  const clock = ev.probe.clock;
  if (!clock) return [];
  const skew = clock.server.getTime() - clock.local.getTime();
  const seconds = Math.round(Math.abs(skew) / 1000);
  const direction = skew > 0 ? 'ahead of' : 'behind';
  if (Math.abs(skew) > MAX_CLOCK_SKEW_MS) {
    return [
      problem(
        `the server clock is ${seconds} s ${direction} this machine (more than ${MAX_CLOCK_SKEW_MS / 60000} minutes): certificates it issues look not yet valid or expired to devices`,
        'synchronise both clocks with NTP (chrony or systemd-timesyncd)',
      ),
    ];
  }
  return [ok(`server clock within ${Math.max(seconds, 1)} s of this machine`)];
}
