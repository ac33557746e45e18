import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Gateway } from './gateway.js';
import { adminListenerHandler } from './http/admin-listener.js';

// Listens with plain HTTP (behind a TLS proxy, the usual deployment) or with
// TLS when --tls-cert/--tls-key are given; then device identity certificates
// are requested (not required: SCEP and enrollment endpoints have none yet).
// With --admin-listen, a second listener serves the admin API (same TLS
// certificate when one is given, no client certificate requested).

export interface RunningServer {
  server: http.Server;
  url: string;
  /** The admin listener, when --admin-listen is set. */
  adminServer: http.Server | null;
  adminUrl: string | null;
  close(): Promise<void>;
}

async function start(server: http.Server, host: string, port: number, scheme: string): Promise<string> {
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `${scheme}://${shown}:${addr.port}`;
}

const stop = (server: http.Server) =>
  new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });

export async function listen(gw: Gateway): Promise<RunningServer> {
  const { config } = gw;
  const tls = config.tlsCert ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey!) } : null;
  const scheme = tls ? 'https' : 'http';
  // The static answers first (http/fast-answers.ts), then the Express app.
  const handler: http.RequestListener = (req, res) => {
    if (!gw.fastAnswers(req, res)) gw.app(req, res);
  };
  const server = tls
    ? https.createServer(
        {
          ...tls,
          requestCert: true,
          rejectUnauthorized: false, // checked per route by the device authenticator
          ca: [gw.rootsPem], // every CA still running (a CA rollover keeps the retired one's identities)
        },
        handler,
      )
    : http.createServer(handler);
  const url = await start(server, config.host, config.port, scheme);
  let adminServer: http.Server | null = null;
  let adminUrl: string | null = null;
  if (config.adminListen) {
    const handler = adminListenerHandler(gw.app);
    adminServer = tls ? https.createServer(tls, handler) : http.createServer(handler);
    try {
      adminUrl = await start(adminServer, config.adminListen.host, config.adminListen.port, scheme);
    } catch (e) {
      await stop(server);
      throw e;
    }
  }
  return {
    server,
    url,
    adminServer,
    adminUrl,
    close: async () => {
      await Promise.all([stop(server), ...(adminServer ? [stop(adminServer)] : [])]);
    },
  };
}
