import { createHash } from 'node:crypto';
import type { AdapterServices } from '../../core/adapter.js';
import { ApnsClient, type PushResult } from './apns-client.js';
import { withDeviceLock } from './device-lock.js';
import { PUSH_CERTIFICATE_SETTING, type PushCertificate } from './push-certificate.js';
import { loadState, saveState, type ChannelState } from './state.js';

// Wakes a device (or a macOS user channel) with an APNs MDM push so it
// connects and fetches its queued commands. Per channel backoff: a 410
// (Unregistered) or 400 BadDeviceToken stops pushes to that token until the
// device sends a new TokenUpdate; other 400s and 429/5xx back off
// exponentially (30 s doubling, at most a day).

export const DEFAULT_APNS_URL = 'https://api.push.apple.com';
const MAX_BACKOFF_MS = 24 * 3600_000;

export interface PusherOptions {
  apnsUrl: string;
  apnsCa?: string | string[];
  now?: () => Date;
}

export type NotifyOutcome = { sent: true; result: PushResult } | { sent: false; why: string };

export class Pusher {
  private client: ApnsClient | null = null;
  private clientKey = '';

  constructor(
    private readonly s: AdapterServices,
    private readonly o: PusherOptions,
  ) {}

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  async pushCertificate(): Promise<PushCertificate | null> {
    const raw = await this.s.secrets.get(PUSH_CERTIFICATE_SETTING);
    return raw ? (JSON.parse(raw) as PushCertificate) : null;
  }

  /** The client for the current push certificate; a new upload replaces the connection. */
  private async clientFor(cert: PushCertificate): Promise<ApnsClient> {
    const key = createHash('sha256').update(cert.certPem).update(cert.keyPem).digest('hex');
    if (!this.client || this.clientKey !== key) {
      this.client?.close();
      this.client = new ApnsClient({ url: this.o.apnsUrl, certPem: cert.certPem, keyPem: cert.keyPem, ...(this.o.apnsCa && { ca: this.o.apnsCa }) });
      this.clientKey = key;
    }
    return this.client;
  }

  get connections(): number {
    return this.client?.connections ?? 0;
  }

  async notify(deviceId: string, channel: string): Promise<NotifyOutcome> {
    const cert = await this.pushCertificate();
    if (!cert) return { sent: false, why: 'no push certificate' };
    const state = await loadState(this.s, deviceId);
    const ch = state.channels[channel];
    if (!state.enrolled || !ch) return { sent: false, why: 'no push token for this channel' };
    if (ch.push.disabled) return { sent: false, why: `push disabled: ${ch.push.disabled}` };
    const now = this.now();
    if (ch.push.backoffUntil && new Date(ch.push.backoffUntil) > now) return { sent: false, why: `backing off until ${ch.push.backoffUntil}` };
    let result: PushResult;
    try {
      result = await (await this.clientFor(cert)).push(ch.token, cert.topic, ch.pushMagic);
    } catch (e) {
      this.s.log.warn({ deviceId, channel, err: (e as Error).message }, 'APNs push failed');
      return { sent: false, why: `APNs unreachable: ${(e as Error).message}` };
    }
    // Re-read under the device lock: the device may have sent a TokenUpdate (or been planned for) meanwhile.
    await withDeviceLock(this.s, deviceId, async () => {
      const fresh = await loadState(this.s, deviceId);
      const c = fresh.channels[channel];
      if (c && c.token === ch.token) {
        applyPushResult(c, result, now);
        await saveState(this.s, deviceId, fresh);
      }
    });
    this.s.log.info({ deviceId, channel, status: result.status, reason: result.reason }, 'APNs push');
    return { sent: true, result };
  }

  close(): void {
    this.client?.close();
    this.client = null;
  }
}

export function applyPushResult(c: ChannelState, r: PushResult, now: Date): void {
  c.push.lastStatus = r.status;
  c.push.lastAt = now.toISOString();
  if (r.status === 200) {
    c.push.failures = 0;
    delete c.push.backoffUntil;
    return;
  }
  if (r.status === 410 || (r.status === 400 && (r.reason === 'BadDeviceToken' || r.reason === 'DeviceTokenNotForTopic'))) {
    c.push.disabled = `${r.status} ${r.reason ?? ''}`.trim();
    return;
  }
  c.push.failures += 1;
  const delay = Math.min(MAX_BACKOFF_MS, 30_000 * 2 ** (c.push.failures - 1));
  c.push.backoffUntil = new Date(now.getTime() + delay).toISOString();
}
