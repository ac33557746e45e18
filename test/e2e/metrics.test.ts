import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceAdapter } from '../../src/adapters/reference/index.js';
import { toPem } from '../../src/pem.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// /metrics as Prometheus scrapes it: behind the admin token, in the text
// exposition format, with the counters moved by a real enrollment, a refused
// one, device check-ins, and the certificate and delivery gauges read from
// the database.

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [referenceAdapter] });
});
afterAll(async () => {
  await t.stop();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a text exposition (comments skipped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

async function scrape(): Promise<(name: string, labels?: Record<string, string>) => number> {
  const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${t.gw.adminToken}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = parseExposition(await res.text());
  return (name, labels = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

const certHeader = (der: Uint8Array) => ({ 'X-Client-Cert': encodeURIComponent(toPem(der)) });

describe('Prometheus metrics', () => {
  it('answers only with the admin token', async () => {
    expect((await fetch(`${t.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
  });

  it('counts enrollments, refusals by check, challenges, check-ins, requests by route, and reads certificates and deliveries from the database', async () => {
    const device = await t.api.ok('POST', '/devices', { name: 'metrics-1', platform: 'android' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'm', scope: 'device', subjectName: 'CN={{DeviceName}}' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });

    // A device identity, then an authenticated check-in that delivers the profile (a challenge minted for it).
    const id = await t.api.ok('POST', `/devices/${device.id}/identity-challenge`);
    const identity = await scepEnroll({ scepUrl: id.scepUrl, challenge: id.challenge, subject: id.subject });
    expect(identity.status).toBe('SUCCESS');
    const payload = await fetch(`${t.url}/reference/v1/payload`, { headers: certHeader(identity.certificate!) });
    expect(payload.status).toBe(200);
    const item = ((await payload.json()) as { items: Array<{ challenge: string; scepUrl: string }> }).items[0]!;
    expect((await scepEnroll({ scepUrl: item.scepUrl, challenge: item.challenge, subject: 'CN=metrics-1' })).status).toBe('SUCCESS');
    // The same challenge again: refused by the single-use check.
    expect((await scepEnroll({ scepUrl: item.scepUrl, challenge: item.challenge, subject: 'CN=metrics-1' })).status).toBe('FAILURE');
    // A check-in without any certificate.
    expect((await fetch(`${t.url}/reference/v1/payload`)).status).toBe(401);
    await t.gw.storage.putDeliveryStatus({ deviceId: device.id, profileId: profile.id, profileVersion: 1, state: 'installed', thumbprint: null, certificateSerial: null, errorCode: null, detail: null });
    await t.api.ok('GET', `/devices/${device.id}`);

    // The first scrape of this gateway (the database counts are cached for INVENTORY_CACHE_MS after one).
    const value = await scrape();
    expect(value('mdmgw_enrollments_total', { result: 'issued' })).toBe(2);
    expect(value('mdmgw_enrollments_total', { result: 'refused' })).toBe(1);
    expect(value('mdmgw_enrollment_refusals_total', { check: 'CHALLENGE_ALREADY_USED' })).toBe(1);
    expect(value('mdmgw_challenges_total', { kind: 'identity', event: 'minted' })).toBe(1);
    expect(value('mdmgw_challenges_total', { kind: 'profile', event: 'minted' })).toBe(1);
    expect(value('mdmgw_challenges_total', { kind: 'identity', event: 'redeemed' })).toBe(1);
    expect(value('mdmgw_challenges_total', { kind: 'profile', event: 'redeemed' })).toBe(1);
    expect(value('mdmgw_checkins_total', { platform: 'reference', result: 'ok' })).toBe(1);
    expect(value('mdmgw_checkins_total', { platform: 'reference', result: 'unauthenticated' })).toBe(1);
    // Route templates, not ids: one series for every device.
    expect(value('mdmgw_http_requests_total', { method: 'GET', route: '/api/v1/devices/:id', status: '200' })).toBe(1);
    expect(value('mdmgw_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/devices' })).toBeGreaterThanOrEqual(1);
    expect(value('mdmgw_http_requests_total', { route: `/api/v1/devices/${device.id}` })).toBe(0);
    expect(value('mdmgw_certificates', { status: 'valid' })).toBe(2);
    expect(value('mdmgw_certificates', { status: 'expiring' })).toBe(0);
    expect(value('mdmgw_deliveries', { state: 'installed' })).toBe(1);
    expect(value('mdmgw_process_cpu_seconds_total')).toBeGreaterThan(0);
  });

  it('reports the V8 heap left after the last major collection (the soak reads it)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc(); // a full (major) collection
    await new Promise((r) => setTimeout(r, 50)); // the gc performance entry is delivered asynchronously
    const value = await scrape();
    const after = value('mdmgw_nodejs_heap_used_after_major_gc_bytes');
    expect(after).toBeGreaterThan(1024 * 1024);
    expect(after).toBeLessThanOrEqual(value('mdmgw_nodejs_heap_size_total_bytes'));
  });
});
