import type { NextFunction, Request, Response } from 'express';
import type { GatewayMetrics } from './gateway-metrics.js';

// Request count and latency per route template (`/api/v1/devices/:id`, not
// the id), so the series stay few whatever the clients send. A request no
// route answered is 'unmatched'.

export function httpMetrics(metrics: GatewayMetrics) {
  return (req: Request, res: Response, next: NextFunction) => {
    const stop = metrics.httpDuration.startTimer();
    res.on('finish', () => {
      const route = routeOf(req);
      stop({ method: req.method, route });
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
}

function routeOf(req: Request): string {
  const path: unknown = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path !== 'string') return 'unmatched';
  return `${req.baseUrl}${path}`;
}
