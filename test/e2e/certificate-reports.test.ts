import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Lifecycle issue #9, item 5: GET /certificates by status and expiry, paged
// with an opaque cursor, and GET /profiles/:id/report, over real SCEP
// enrollments on a real gateway.

let t: TestGateway;
let device: { id: string };
let other: { id: string };
let shortLived: { id: string };
let longLived: { id: string };
const serials: Record<string, string> = {};

const serialOf = (pem: Uint8Array) => new X509Certificate(pem).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');

async function enroll(profileId: string, deviceId: string, name: string) {
  const { challenge } = await t.api.ok('POST', '/challenges', { profileId, deviceId });
  const r = await scepEnroll({ scepUrl: t.scepUrl, subject: `CN=${name},O=Reports`, challenge });
  expect(r.status).toBe('SUCCESS');
  return serialOf(r.certificate!);
}

async function get(path: string) {
  const res = await fetch(`${t.api.base}${path}`, { headers: { authorization: `Bearer ${t.api.token}` } });
  return { status: res.status, body: (await res.json()) as any, next: res.headers.get('x-next-cursor'), link: res.headers.get('link') };
}

beforeAll(async () => {
  t = await startTestGateway();
  device = await t.api.ok('POST', '/devices', { name: 'rep-1', platform: 'windows' });
  other = await t.api.ok('POST', '/devices', { name: 'rep-2', platform: 'windows' });
  shortLived = await t.api.ok('POST', '/profiles', { name: 'short', scope: 'device', subjectName: 'CN={{DeviceName}},O=Reports', validityDays: 10 });
  longLived = await t.api.ok('POST', '/profiles', { name: 'long', scope: 'device', subjectName: 'CN={{DeviceName}},O=Reports', validityDays: 365 });
  for (const p of [shortLived, longLived]) {
    await t.api.ok('POST', '/assignments', { profileId: p.id, deviceId: device.id });
    await t.api.ok('POST', '/assignments', { profileId: p.id, deviceId: other.id });
  }
  serials.short1 = await enroll(shortLived.id, device.id, 'rep-1');
  serials.long1 = await enroll(longLived.id, device.id, 'rep-1');
  serials.long2 = await enroll(longLived.id, other.id, 'rep-2');
  serials.revoked = await enroll(longLived.id, device.id, 'rep-1');
  await t.api.ok('POST', `/certificates/${serials.revoked}/revoke`, { reason: 'superseded' }, 200);
  // An expired certificate: our CA issues for 1 day at least, so the record is written as the issuance path writes it.
  await t.gw.storage.recordEnrollment(
    null,
    {
      transactionId: 'expired-tx',
      status: 'issued',
      kind: 'profile',
      challengeId: null,
      profileId: longLived.id,
      profileVersion: 1,
      deviceId: other.id,
      userId: null,
      csrSha256: '00'.repeat(32),
      csrDer: new Uint8Array([0x30, 0x00]),
      resolved: null as never,
    },
    {
      serialNumber: 'e0e0e0',
      kind: 'profile',
      subject: 'CN=rep-2,O=Reports',
      notBefore: '2020-01-01T00:00:00.000Z',
      notAfter: '2021-01-01T00:00:00.000Z',
      thumbprint: 'E0'.repeat(20),
      sha256: 'e0'.repeat(32),
      transactionId: 'expired-tx',
      profileId: longLived.id,
      profileVersion: 1,
      deviceId: other.id,
      userId: null,
      der: new Uint8Array([0x30, 0x00]),
    },
  );
  serials.expired = 'e0e0e0';
});
afterAll(async () => {
  await t?.stop();
});

const serialList = (body: { serialNumber: string }[]) => body.map((c) => c.serialNumber).sort();

describe('GET /certificates: status, expiry and paging', () => {
  it('filters by status and by expiry window', async () => {
    expect(serialList((await get('/certificates?status=revoked')).body)).toEqual([serials.revoked]);
    expect(serialList((await get('/certificates?status=expired')).body)).toEqual([serials.expired]);
    expect(serialList((await get('/certificates?status=valid')).body)).toEqual([serials.short1, serials.long1, serials.long2].sort());
    // The 10-day certificate expires within 30 days, the 365-day ones do not; expired and revoked never count as expiring.
    expect(serialList((await get('/certificates?expiringWithinDays=30')).body)).toEqual([serials.short1]);
    expect(serialList((await get('/certificates?expiringWithinDays=400&deviceId=' + other.id)).body)).toEqual([serials.long2]);
    expect(serialList((await get(`/certificates?status=valid&profileId=${longLived.id}&deviceId=${device.id}`)).body)).toEqual([serials.long1]);
  });

  it('pages with an opaque cursor until the last page, which has none', async () => {
    const all = (await get('/certificates')).body as { serialNumber: string }[];
    expect(all).toHaveLength(5);
    const seen: string[] = [];
    let path = '/certificates?limit=2';
    for (let i = 0; i < 5; i++) {
      const page = await get(path);
      expect(page.status).toBe(200);
      expect(page.body.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.map((c: { serialNumber: string }) => c.serialNumber));
      if (!page.next) {
        expect(page.link).toBeNull();
        break;
      }
      // The Link header carries the same request with the cursor.
      expect(page.link).toBe(`</api/v1/certificates?limit=2&cursor=${page.next}>; rel="next"`);
      path = `/certificates?limit=2&cursor=${page.next}`;
    }
    expect(seen).toEqual(all.map((c) => c.serialNumber));
  });

  it('pages the expiry report in expiry order (soonest first) with its own cursor; an issue-order cursor is refused there and back', async () => {
    // Issued last, expiring first (an identity certificate, outside the profile reports below): expiry order is not issue order.
    await t.gw.storage.recordEnrollment(
      null,
      { transactionId: 'late-tx', status: 'issued', kind: 'identity', challengeId: null, profileId: null, profileVersion: null, deviceId: null, userId: null, csrSha256: '11'.repeat(32), csrDer: new Uint8Array([0x30, 0x00]), resolved: null as never },
      { serialNumber: 'f1f1f1', kind: 'identity', subject: 'CN=late', notBefore: new Date().toISOString(), notAfter: new Date(Date.now() + 2 * 86_400_000).toISOString(), thumbprint: 'F1'.repeat(20), sha256: 'f1'.repeat(32), transactionId: 'late-tx', profileId: null, profileVersion: null, deviceId: null, userId: null, der: new Uint8Array([0x30, 0x00]) },
    );
    const all = (await get('/certificates?status=valid')).body as { serialNumber: string; notAfter: string }[];
    expect(all.at(-1)!.serialNumber).toBe('f1f1f1');
    const byExpiry = [...all].sort((a, b) => a.notAfter.localeCompare(b.notAfter) || a.serialNumber.localeCompare(b.serialNumber)).map((c) => c.serialNumber);
    expect(byExpiry.slice(0, 2)).toEqual(['f1f1f1', serials.short1]);
    const seen: string[] = [];
    let path = '/certificates?expiringWithinDays=400&limit=1';
    const cursors: string[] = [];
    for (let i = 0; i < 5; i++) {
      const page = await get(path);
      expect(page.status).toBe(200);
      seen.push(...page.body.map((c: { serialNumber: string }) => c.serialNumber));
      if (!page.next) break;
      cursors.push(page.next);
      expect(page.link).toBe(`</api/v1/certificates?expiringWithinDays=400&limit=1&cursor=${page.next}>; rel="next"`);
      path = `/certificates?expiringWithinDays=400&limit=1&cursor=${page.next}`;
    }
    expect(seen).toEqual(byExpiry);
    // The orders' cursors are not interchangeable: each is a 400 naming cursor in the other list.
    const issueCursor = (await get('/certificates?limit=1')).next!;
    for (const wrong of [`/certificates?expiringWithinDays=400&cursor=${issueCursor}`, `/certificates?cursor=${cursors[0]}`]) {
      const r = await get(wrong);
      expect([wrong, r.status]).toEqual([wrong, 400]);
      expect(r.body.issues.map((i: { path: string }) => i.path)).toEqual(['cursor']);
    }
  });

  it('refuses bad query parameters with a 400 naming the parameter', async () => {
    const cases: Array<[string, string]> = [
      ['status=bogus', 'status'],
      ['expiringWithinDays=-1', 'expiringWithinDays'],
      ['expiringWithinDays=1.5', 'expiringWithinDays'],
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=1&limit=2', 'limit'],
      ['cursor=not-a-cursor', 'cursor'],
      [`cursor=${Buffer.from('["x","zz"]').toString('base64url')}`, 'cursor'],
      ['deviceId=nope', 'deviceId'],
      ['status=revoked&expiringWithinDays=5', 'status'],
      ['colour=red', 'colour'],
    ];
    for (const [query, field] of cases) {
      const r = await get(`/certificates?${query}`);
      expect([query, r.status]).toEqual([query, 400]);
      expect(r.body.issues.map((i: { path: string }) => i.path), query).toContain(field);
    }
  });
});

describe('GET /profiles/:id/report', () => {
  it('counts delivery states and certificate statuses for the devices the profile reaches now', async () => {
    const stray = await t.api.ok('POST', '/devices', { name: 'rep-3', platform: 'windows' });
    await t.gw.storage.putDeliveryStatus({ deviceId: device.id, profileId: longLived.id, profileVersion: 1, state: 'installed', thumbprint: null, certificateSerial: serials.long1!, errorCode: null, detail: null });
    // Not assigned any more (or never): its report is not part of the profile's current picture.
    await t.gw.storage.putDeliveryStatus({ deviceId: stray.id, profileId: longLived.id, profileVersion: 1, state: 'failed', thumbprint: null, certificateSerial: null, errorCode: '0x1', detail: null });

    const r = await get(`/profiles/${longLived.id}/report`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ profileId: longLived.id, version: 1, name: 'long', assignments: 2, devices: 2 });
    expect(r.body.deliveries).toEqual({ pending: 0, enrolling: 0, installed: 1, failed: 0, removed: 0, notReported: 1 });
    expect(r.body.certificates).toEqual({ valid: 2, revoked: 1, expired: 1, expiringWithinDays: 30, expiring: 0 });

    const short = await get(`/profiles/${shortLived.id}/report?expiringWithinDays=11`);
    expect(short.body.certificates).toEqual({ valid: 1, revoked: 0, expired: 0, expiringWithinDays: 11, expiring: 1 });
    expect(short.body.deliveries.notReported).toBe(2);

    // Unassigning a device takes its certificates out of the profile's counts.
    const a = (await t.api.ok('GET', `/assignments?profileId=${longLived.id}`)).find((x: { target: { deviceId?: string } }) => x.target.deviceId === other.id);
    await t.api.ok('DELETE', `/assignments/${a.id}`, undefined, 204);
    const after = await get(`/profiles/${longLived.id}/report`);
    expect(after.body).toMatchObject({ assignments: 1, devices: 1 });
    expect(after.body.certificates).toMatchObject({ valid: 1, revoked: 1, expired: 0 });
  });

  it('404 for an unknown profile, 400 for a bad window', async () => {
    expect((await get('/profiles/00000000-0000-4000-8000-000000000000/report')).status).toBe(404);
    const bad = await get(`/profiles/${longLived.id}/report?expiringWithinDays=x`);
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0].path).toBe('expiringWithinDays');
  });
});
