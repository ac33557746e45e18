import http2 from 'node:http2';

// An APNs provider connection over HTTP/2 with TLS client authentication by
// the MDM push certificate. One session is reused for every push; when the
// server sends GOAWAY (or the session dies) the next push opens a new one,
// and a push that was refused because its session was going away is retried
// once on a fresh connection.

export interface ApnsOptions {
  /** e.g. https://api.push.apple.com (MDMGW_APNS_URL). */
  url: string;
  certPem: string;
  keyPem: string;
  /** Extra trusted roots (tests; a private APNs relay). Default: Node's public roots. */
  ca?: string | string[];
  timeoutMs?: number;
}

export interface PushResult {
  status: number;
  /** APNs' reason (e.g. BadDeviceToken, Unregistered), when it answered with an error body. */
  reason?: string;
  apnsId?: string;
}

const RETRYABLE = new Set(['ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_INVALID_SESSION', 'ERR_HTTP2_STREAM_CANCEL', 'ERR_HTTP2_SESSION_ERROR']);

export class ApnsClient {
  private session: http2.ClientHttp2Session | null = null;
  /** Sessions opened so far (connection reuse is observable in tests). */
  connections = 0;

  constructor(private readonly o: ApnsOptions) {}

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const s = http2.connect(this.o.url, { cert: this.o.certPem, key: this.o.keyPem, ...(this.o.ca && { ca: this.o.ca }) });
    this.connections += 1;
    const drop = () => {
      if (this.session === s) this.session = null;
    };
    // GOAWAY: streams in flight finish; new pushes go to a new session.
    s.on('goaway', drop);
    s.on('close', drop);
    s.on('error', drop);
    s.unref();
    this.session = s;
    return s;
  }

  async push(deviceTokenHex: string, topic: string, pushMagic: string): Promise<PushResult> {
    try {
      return await this.once(deviceTokenHex, topic, pushMagic);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      const refused = code === 'ERR_HTTP2_STREAM_ERROR' && /REFUSED_STREAM/.test((e as Error).message);
      if (!RETRYABLE.has(code) && !refused && !/GOAWAY|closed/i.test((e as Error).message)) throw e;
      this.session = null;
      return this.once(deviceTokenHex, topic, pushMagic);
    }
  }

  private once(token: string, topic: string, pushMagic: string): Promise<PushResult> {
    const session = this.connect();
    return new Promise<PushResult>((resolve, reject) => {
      let req: http2.ClientHttp2Stream;
      try {
        req = session.request({
          ':method': 'POST',
          ':path': `/3/device/${token}`,
          'apns-topic': topic,
          'apns-push-type': 'mdm',
          'apns-priority': '10',
          'content-type': 'application/json',
        });
      } catch (e) {
        reject(e);
        return;
      }
      req.setTimeout(this.o.timeoutMs ?? 10_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
      let status = 0;
      let apnsId: string | undefined;
      const chunks: Buffer[] = [];
      req.on('response', (h) => {
        status = Number(h[':status']);
        const id = h['apns-id'];
        if (typeof id === 'string') apnsId = id;
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', reject);
      req.on('close', () => {
        if (status === 0) {
          const e = new Error(`APNs stream closed without a response (code ${req.rstCode})`) as NodeJS.ErrnoException;
          e.code = req.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM ? 'ERR_HTTP2_STREAM_ERROR' : 'ERR_HTTP2_STREAM_CANCEL';
          if (req.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) e.message += ' REFUSED_STREAM';
          reject(e);
          return;
        }
        let reason: string | undefined;
        if (chunks.length) {
          try {
            reason = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { reason?: string }).reason;
          } catch {
            reason = undefined;
          }
        }
        resolve({ status, ...(reason && { reason }), ...(apnsId && { apnsId }) });
      });
      req.end(JSON.stringify({ mdm: pushMagic }));
    });
  }

  close(): void {
    this.session?.close();
    this.session = null;
  }
}
