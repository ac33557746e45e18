import { request as httpRequest, createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { opensslCmsVerify } from './openssl.js';

// A tiny HTTP proxy on 127.0.0.1 in front of a test gateway. Real SCEP clients
// talk to it; it forwards every request unchanged and records what went by,
// so a test can afterwards check EVERY CertRep a client really received with
// plain `openssl cms -verify` (no -purpose any), and report how the client
// spoke (GET or POST, which operations).

export interface Exchange {
  method: string;
  /** Path and query as the client sent it. */
  url: string;
  /** ?operation= (GetCACaps, GetCACert, PKIOperation), '' when absent. */
  operation: string;
  status: number;
  contentType: string;
  /** The request body (POST) or the decoded message= parameter (GET) is not kept: only sizes. */
  requestBytes: number;
  /** The full response body. For PKIOperation: the DER CertRep. */
  body: Buffer;
}

export interface RecordingProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  exchanges: Exchange[];
  /** Bodies of successful (HTTP 200) PKIOperation responses: DER CertReps. */
  certReps(): Buffer[];
  /** Runs openssl cms -verify on every recorded CertRep; returns the failures. */
  verifyAll(caPemFile: string): Promise<{ index: number; url: string; stderr: string }[]>;
  stop(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const exchanges: Exchange[] = [];

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const requestBody = Buffer.concat(chunks);
      const headers = { ...req.headers, host: upstream.host };
      const out = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
        (up: IncomingMessage) => {
          const body: Buffer[] = [];
          up.on('data', (c: Buffer) => body.push(c));
          up.on('end', () => {
            const all = Buffer.concat(body);
            const url = req.url ?? '';
            exchanges.push({
              method: req.method ?? '',
              url,
              operation: new URL(url, 'http://x').searchParams.get('operation') ?? '',
              status: up.statusCode ?? 0,
              contentType: String(up.headers['content-type'] ?? ''),
              requestBytes: req.method === 'GET' ? url.length : requestBody.length,
              body: all,
            });
            const h = { ...up.headers };
            delete h['transfer-encoding'];
            h['content-length'] = String(all.length);
            res.writeHead(up.statusCode ?? 502, h);
            res.end(all);
          });
          up.on('error', () => res.destroy());
        },
      );
      out.on('error', (e) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`recording proxy: upstream error: ${e.message}\n`);
      });
      out.end(requestBody);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const certReps = () => exchanges.filter((e) => e.operation === 'PKIOperation' && e.status === 200).map((e) => e.body);
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    certReps,
    async verifyAll(caPemFile) {
      const failures: { index: number; url: string; stderr: string }[] = [];
      const reps = exchanges.filter((e) => e.operation === 'PKIOperation' && e.status === 200);
      for (const [index, e] of reps.entries()) {
        const r = await opensslCmsVerify(e.body, caPemFile);
        if (!r.ok) failures.push({ index, url: e.url.slice(0, 80), stderr: r.stderr });
      }
      return failures;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
