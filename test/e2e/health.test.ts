import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppleAdapter } from '../../src/adapters/apple/index.js';
import type { KyselyStorage } from '../../src/core/storage/kysely-storage.js';
import { makeCa, pushCertificate } from '../../src/sim/fake-apns.js';
import { freePort, startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Operations issue #14, item 2: /readyz (no token; database reachable and
// migrated, keys usable, not shutting down) and GET /api/v1/health (every
// part: database, CA and RA lifetimes, keys, the Apple push certificate
// through the adapter's health hook, each SCEP URL answering GetCACaps, the
// clock), against a real gateway.

type Component = { component: string; status: string; message: string; details?: Record<string, any> };

let t: TestGateway;
const byName = (components: Component[], name: string) => components.find((c) => c.component === name);

async function health() {
  const r = await t.api.call('GET', '/health');
  return { status: r.status, body: r.body as { status: string; checkedAt: string; components: Component[] } };
}

/** A stand-in SCEP server answering GetCACaps (or anything else), counting the requests. */
async function fakeServer(answer: (res: http.ServerResponse) => void) {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits++;
    answer(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/scep`, hits: () => hits, close: () => new Promise<void>((r) => server.close(() => r())) };
}

beforeAll(async () => {
  t = await startTestGateway({ adapters: [createAppleAdapter()] });
});
afterAll(async () => {
  await t?.stop();
});

describe('/readyz', () => {
  it('200 without a token when the database answers, is migrated and the keys sign', async () => {
    const r = await fetch(`${t.url}/readyz`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { status: string; checks: Component[] };
    expect(body.status).toBe('ready');
    expect(byName(body.checks, 'database')).toMatchObject({ status: 'ok', details: { pendingMigrations: [] } });
    expect(byName(body.checks, 'keys')).toMatchObject({ status: 'ok' });
  });

  it('503 naming the migration when the database is behind the code', async () => {
    const db = (t.gw.storage as KyselyStorage).db;
    const row = await db.selectFrom('kysely_migration' as never).selectAll().where('name' as never, '=', '0008_certificate_reporting' as never).executeTakeFirstOrThrow();
    await db.deleteFrom('kysely_migration' as never).where('name' as never, '=', '0008_certificate_reporting' as never).execute();
    try {
      const r = await fetch(`${t.url}/readyz`);
      expect(r.status).toBe(503);
      const body = (await r.json()) as { status: string; checks: Component[] };
      expect(body.status).toBe('not ready');
      expect(byName(body.checks, 'database')).toMatchObject({ status: 'error', details: { pendingMigrations: ['0008_certificate_reporting'] } });
      expect(byName(body.checks, 'database')!.message).toContain('0008_certificate_reporting');
    } finally {
      await db.insertInto('kysely_migration' as never).values(row as never).execute();
    }
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
  });

  it('503 once shutdown has begun, and when the database does not answer', async () => {
    const other = await startTestGateway();
    try {
      other.gw.health.markClosing();
      const closing = await fetch(`${other.url}/readyz`);
      expect(closing.status).toBe(503);
      expect(byName(((await closing.json()) as { checks: Component[] }).checks, 'lifecycle')).toMatchObject({ status: 'error' });
      await other.gw.storage.close();
      const down = await fetch(`${other.url}/readyz`);
      expect(down.status).toBe(503);
      expect(byName(((await down.json()) as { checks: Component[] }).checks, 'database')).toMatchObject({ status: 'error' });
    } finally {
      await other.stop();
    }
  });
});

describe('GET /api/v1/health', () => {
  it('needs the admin token', async () => {
    expect((await fetch(`${t.url}/api/v1/health`)).status).toBe(401);
  });

  it('lists every part: database, CA and RA lifetimes, keys, our SCEP URL answering, the clock, and no push certificate yet', async () => {
    const { status, body } = await health();
    expect(status).toBe(200);
    expect(Date.parse(body.checkedAt)).not.toBeNaN();
    expect(byName(body.components, 'database')).toMatchObject({ status: 'ok' });
    const ca = byName(body.components, 'ca-certificate')!;
    expect(ca.status).toBe('ok');
    expect(ca.details!.daysToExpiry).toBeGreaterThan(3000); // the generated CA lives 10 years
    expect(byName(body.components, 'ra-certificate')).toMatchObject({ status: 'ok' });
    expect(byName(body.components, 'keys')).toMatchObject({ status: 'ok' });
    const own = byName(body.components, `scep:${t.scepUrl}`)!;
    expect(own).toMatchObject({ status: 'ok', details: { httpStatus: 200, gateway: true } });
    expect(own.details!.capabilities).toContain('SCEPStandard');
    expect(byName(body.components, 'clock')).toMatchObject({ status: 'ok' });
    // The Apple adapter's hook: enabled without a push certificate, Apple devices cannot enroll.
    expect(byName(body.components, 'apple.push-certificate')).toMatchObject({ status: 'warning' });
    expect(body.status).toBe('warning');
    // Nothing secret in the report.
    const text = JSON.stringify(body);
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).not.toContain(t.gw.adminToken);
  });

  it('shows the push certificate topic and days to expiry, warning under 30 days', async () => {
    const ca = await makeCa();
    const cert = await pushCertificate(ca, 'com.apple.mgmt.External.health', new Date(Date.now() + 20 * 86_400_000 + 3_600_000));
    await t.api.ok('PUT', '/apple/push-certificate', { certificate: cert.certPem, privateKey: cert.keyPem }, 200);
    const push = byName((await health()).body.components, 'apple.push-certificate')!;
    expect(push).toMatchObject({ status: 'warning', details: { topic: 'com.apple.mgmt.External.health', daysToExpiry: 20 } });
    expect(push.message).toContain('expires in 20 days');

    const fresh = await pushCertificate(ca, 'com.apple.mgmt.External.health', new Date(Date.now() + 200 * 86_400_000));
    await t.api.ok('PUT', '/apple/push-certificate', { certificate: fresh.certPem, privateKey: fresh.keyPem }, 200);
    expect(byName((await health()).body.components, 'apple.push-certificate')).toMatchObject({ status: 'ok', details: { daysToExpiry: 199 } });
  });

  it("probes every profile's SCEP URLs in parallel, reports those not answering, and caches answers for a minute", async () => {
    const caps = await fakeServer((res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('POSTPKIOperation\nSHA-256\nAES\nSCEPStandard\n'));
    const html = await fakeServer((res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Welcome to nginx!</body></html>'));
    const dead = `http://127.0.0.1:${await freePort()}/scep`;
    try {
      await t.api.ok('POST', '/profiles', { name: 'external', scope: 'device', subjectName: 'CN={{DeviceName}}', scepServerUrls: [caps.url, html.url, dead] });
      const first = await health();
      expect(first.status).toBe(503);
      expect(first.body.status).toBe('error');
      expect(byName(first.body.components, `scep:${caps.url}`)).toMatchObject({ status: 'ok', details: { capabilities: ['POSTPKIOperation', 'SHA-256', 'AES', 'SCEPStandard'] } });
      expect(byName(first.body.components, `scep:${html.url}`)!.message).toMatch(/not a GetCACaps capability list/);
      expect(byName(first.body.components, `scep:${dead}`)).toMatchObject({ status: 'error', details: { httpStatus: null } });
      expect([caps.hits(), html.hits()]).toEqual([1, 1]);
      // Polled again within the minute: the answers come from the cache.
      await health();
      await health();
      expect([caps.hits(), html.hits()]).toEqual([1, 1]);
    } finally {
      await caps.close();
      await html.close();
      for (const p of await t.api.ok('GET', '/profiles')) if (p.name === 'external') await t.api.ok('DELETE', `/profiles/${p.id}`, undefined, 204);
    }
    expect((await health()).status).toBe(200);
  });

  it('warns when the clock is behind the newest record in the database (it stepped back)', async () => {
    await t.gw.storage.appendAudit({ transactionId: null, type: 'test.future', reasonCode: null, actor: 'test', details: {}, at: new Date(Date.now() + 3_600_000).toISOString() });
    const clock = byName((await health()).body.components, 'clock')!;
    expect(clock.status).toBe('warning');
    expect(clock.message).toMatch(/stepped back/);
  });
});
