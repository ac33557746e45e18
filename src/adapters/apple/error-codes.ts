import type { RedeemCheckRefusal, RedeemFailure } from '../../core/adapter.js';

// How the Apple enrollment URL (GET /mdm/enroll) answers a refused token:
// one HTTP status, error text and audit reason code per refusal. The device
// shows the profile download as failed; the admin reads the audit.

export interface EnrollRefusal {
  status: 401 | 403 | 409;
  error: string;
  /** The audit event's reason code; null where the audit names the device instead. */
  reasonCode: string | null;
}

export function enrollRefusal(r: RedeemFailure | RedeemCheckRefusal<never>): EnrollRefusal {
  switch (r.reason) {
    case 'check':
    case 'user-mismatch':
      // Apple's enrollment passes neither a check nor userMatches; named so a later one is not answered as a token verdict.
      return { status: 403, error: `enrollment refused: ${r.reason}`, reasonCode: null };
    case 'device-missing':
      return { status: 409, error: 'the device this token was made for no longer exists', reasonCode: null };
    case 'device-blocked':
      return { status: 403, error: 'the device this token was made for is blocked', reasonCode: 'DEVICE_BLOCKED' };
    default:
      // The token's own verdict (no userMatches here: Apple's URL carries no user to compare).
      return {
        status: r.reason === 'wrong-platform' ? 403 : 401,
        error: `enrollment token ${r.reason}`,
        reasonCode: `ENROLLMENT_TOKEN_${r.reason.toUpperCase().replace(/-/g, '_')}`,
      };
  }
}
