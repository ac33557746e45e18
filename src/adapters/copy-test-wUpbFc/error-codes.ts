import type { RedeemCheckRefusal, RedeemFailure, Refusal } from '../../core/adapter.js';

// How this adapter answers a refused enrollment: one HTTP status and one
// stable `reason` per refusal, so a device (and the tests) can tell them
// apart. Copy and adapt: a real platform maps the same refusals to its own
// protocol's faults (Windows: SOAP faults; Apple and Android: HTTP statuses).

export interface EnrollError {
  status: 400 | 401 | 403 | 409;
  body: { error: string; reason: string };
}

/** A refusal from AdapterServices.redeemEnrollmentToken; `check` is this adapter's CSR precheck. */
export function enrollError(r: RedeemFailure | RedeemCheckRefusal<Refusal>): EnrollError {
  switch (r.reason) {
    case 'device-missing':
      return { status: 409, body: { error: 'the device this token was made for no longer exists', reason: r.reason } };
    case 'device-blocked':
      return { status: 403, body: { error: 'the device this token was made for is blocked', reason: r.reason } };
    case 'user-mismatch':
      return { status: 403, body: { error: 'this user may not enroll with this token', reason: r.reason } };
    case 'check':
      return { status: 400, body: { error: `the certificate request was refused: ${r.refusal.code}`, reason: r.refusal.code } };
    default:
      // unknown, used, expired, wrong-platform: the token's own verdict.
      return { status: 401, body: { error: `enrollment token ${r.reason}`, reason: r.reason } };
  }
}
