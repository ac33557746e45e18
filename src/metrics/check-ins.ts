import type { RequestHandler } from 'express';
import type { CheckInResult, GatewayMetrics } from './gateway-metrics.js';

// Counts what an adapter's device authentication decided, per platform: every
// check-in route goes through it, so this is the one place that sees them all.
// An authenticated request counts as 'ok' when its answer is not an error.

export function countCheckIns(authenticate: RequestHandler, platform: string, metrics: GatewayMetrics): RequestHandler {
  return (req, res, next) => {
    let authenticated = false;
    res.once('finish', () => metrics.checkIn(platform, resultOf(authenticated, res.statusCode)));
    return authenticate(req, res, (err?: unknown) => {
      authenticated = err === undefined;
      next(err);
    });
  };
}

function resultOf(authenticated: boolean, status: number): CheckInResult {
  if (authenticated) return status < 400 ? 'ok' : 'error';
  if (status === 403) return 'forbidden';
  if (status === 400) return 'bad-request';
  return 'unauthenticated';
}
