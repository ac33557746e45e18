import type { IncomingMessage, RequestListener } from 'node:http';
import type { RequestHandler } from 'express';

// The admin listener (--admin-listen, MDMGW_ADMIN_LISTEN; operations issue
// #14, item 7). One Express app serves both listeners; a request is tagged
// with the listener it arrived on, and the admin surface (/api/v1, later the
// console and /metrics) is tagged by Express's own route matching, so the
// split cannot disagree with the routing (case, encoding, trailing slashes).
// With an admin listener, each side answers 404 for the other's routes; the
// health probes answer on both.

const ON_ADMIN_LISTENER = Symbol('mdmgw.onAdminListener');
const ADMIN_SURFACE = Symbol('mdmgw.adminSurface');

type Tagged = IncomingMessage & { [ON_ADMIN_LISTENER]?: true; [ADMIN_SURFACE]?: true };

/** The admin listener's request handler: the same app, the request tagged as arriving there. */
export function adminListenerHandler(app: RequestListener): RequestListener {
  return (req, res) => {
    (req as Tagged)[ON_ADMIN_LISTENER] = true;
    app(req, res);
  };
}

/** Mounted at each admin path (`app.use('/api/v1', markAdminSurface)`) before the split. */
export const markAdminSurface: RequestHandler = (req, _res, next) => {
  (req as Tagged)[ADMIN_SURFACE] = true;
  next();
};

/**
 * Without an admin listener, a no-op (everything on one listener, as before).
 * With one: admin routes only there, device routes only on the device listener.
 * The 404 does not say where the admin API is.
 */
export function separateListeners(adminListenerConfigured: boolean): RequestHandler {
  return (req, res, next) => {
    const t = req as Tagged;
    if (!adminListenerConfigured || Boolean(t[ADMIN_SURFACE]) === Boolean(t[ON_ADMIN_LISTENER])) return next();
    res.status(404).json({ error: 'not found' });
  };
}
