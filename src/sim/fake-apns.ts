import 'reflect-metadata';
import { webcrypto, X509Certificate, KeyObject } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import * as x509 from '@peculiar/x509';

// A local stand-in for api.push.apple.com: HTTP/2 over TLS on 127.0.0.1 that
// demands a client certificate from its test CA and records every push (path,
// headers, body, the client certificate's subject). Answers are scripted per
// device token; it can send GOAWAY after a number of requests.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const alg = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };

export interface Pem {
  certPem: string;
  keyPem: string;
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
}

async function keyPem(keys: webcrypto.CryptoKeyPair): Promise<string> {
  return KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString();
}

export async function makeCa(name = 'CN=Fake Apple Push CA'): Promise<Pem> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + 365 * 86400_000),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  return { cert, certPem: cert.toString('pem'), keyPem: await keyPem(keys), keys };
}

export async function issue(ca: Pem, subject: x509.JsonName | string, opts: { serverIp?: string; notAfter?: Date } = {}): Promise<Pem> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Date.now().toString(16) + Math.floor(Math.random() * 1e6).toString(16),
    subject,
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: opts.notAfter ?? new Date(Date.now() + 30 * 86400_000),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: alg,
    extensions: opts.serverIp ? [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: opts.serverIp }])] : [],
  });
  return { cert, certPem: cert.toString('pem'), keyPem: await keyPem(keys), keys };
}

/** An MDM push certificate: subject UID is the topic, like Apple's. */
export async function pushCertificate(ca: Pem, topic: string, notAfter?: Date): Promise<Pem> {
  return issue(ca, [{ '0.9.2342.19200300.100.1.1': [topic] }, { CN: [`APSP:${topic.split('.').pop()}`] }, { C: ['US'] }], notAfter ? { notAfter } : {});
}

export interface ReceivedPush {
  path: string;
  headers: http2.IncomingHttpHeaders;
  body: string;
  clientSubject: string;
}

export class FakeApns {
  pushes: ReceivedPush[] = [];
  sessions = 0;
  /** token hex -> scripted answer. Default 200. */
  answers = new Map<string, { status: number; reason?: string }>();
  goawayAfter: number | null = null;
  goawayOnConnect = false;
  private server!: http2.Http2SecureServer;
  private open = new Set<http2.ServerHttp2Session>();
  private refusing = new Set<http2.Http2Session>();
  url = '';
  ca!: Pem;

  static async start(): Promise<FakeApns> {
    const f = new FakeApns();
    f.ca = await makeCa();
    const serverCert = await issue(f.ca, 'CN=127.0.0.1', { serverIp: '127.0.0.1' });
    f.server = http2.createSecureServer({ key: serverCert.keyPem, cert: serverCert.certPem, ca: f.ca.certPem, requestCert: true, rejectUnauthorized: true });
    f.server.on('session', (session) => {
      f.sessions += 1;
      f.open.add(session);
      if (f.goawayOnConnect) {
        f.goawayOnConnect = false;
        // Refuse everything on this connection: streams the client already sent must be retried elsewhere.
        f.refusing.add(session);
        session.goaway(http2.constants.NGHTTP2_NO_ERROR, 0);
      }
      session.on('close', () => f.open.delete(session));
    });
    f.server.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      if (stream.session && f.refusing.has(stream.session)) {
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const socket = stream.session?.socket as TLSSocket | undefined;
        const peer = socket?.getPeerCertificate?.(false);
        const clientSubject = peer?.raw ? new X509Certificate(peer.raw).subject : '';
        const path = String(headers[':path']);
        f.pushes.push({ path, headers, body: Buffer.concat(chunks).toString('utf8'), clientSubject });
        const token = path.replace(/^\/3\/device\//, '');
        const a = f.answers.get(token) ?? { status: 200 };
        stream.respond({ ':status': a.status, 'apns-id': `00000000-0000-4000-8000-${String(f.pushes.length).padStart(12, '0')}` });
        stream.end(a.reason ? JSON.stringify({ reason: a.reason }) : undefined);
        if (f.goawayAfter !== null && f.pushes.length >= f.goawayAfter) {
          f.goawayAfter = null;
          stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR);
        }
      });
    });
    await new Promise<void>((resolve) => f.server.listen(0, '127.0.0.1', resolve));
    f.url = `https://127.0.0.1:${(f.server.address() as AddressInfo).port}`;
    return f;
  }

  async waitForPushes(n: number, timeoutMs = 5000): Promise<ReceivedPush[]> {
    const until = Date.now() + timeoutMs;
    while (this.pushes.length < n) {
      if (Date.now() > until) throw new Error(`expected ${n} pushes, got ${this.pushes.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.pushes;
  }

  async stop(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
