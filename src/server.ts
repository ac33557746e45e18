import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Gateway } from './gateway.js';

// Listens with plain HTTP (behind a TLS proxy, the usual deployment) or with
// TLS when --tls-cert/--tls-key are given; then device identity certificates
// are requested (not required: SCEP and enrollment endpoints have none yet).

export interface RunningServer {
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

export async function listen(gw: Gateway): Promise<RunningServer> {
  const { config } = gw;
  const server = config.tlsCert
    ? https.createServer(
        {
          cert: readFileSync(config.tlsCert),
          key: readFileSync(config.tlsKey!),
          requestCert: true,
          rejectUnauthorized: false, // checked per route by the device authenticator
          ca: [gw.rootsPem], // every CA still running (a CA rollover keeps the retired one's identities)
        },
        gw.app,
      )
    : http.createServer(gw.app);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${config.tlsCert ? 'https' : 'http'}://${host}:${addr.port}`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
