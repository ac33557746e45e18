import type { RequestHandler } from 'express';
import type { GatewayMetrics } from './gateway-metrics.js';

/** The Prometheus text exposition of the gateway's registry. */
export function metricsRoute(metrics: GatewayMetrics): RequestHandler {
  return async (_req, res) => {
    const body = await metrics.registry.metrics();
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(body);
  };
}
