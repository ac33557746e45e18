import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { tamper } from '../helpers/interop.js';

// GET /api/v1/enrollments: the recent SCEP transactions for the admin console,
// newest first, recorded enrollments and refused requests alike, each with the
// transactionId its timeline answers to.

let t: TestGateway;
let device: { id: string };
let profile: { id: string };
const issued: string[] = [];
let refused: string;

const SUBJECT = 'CN=printer-7, OU=MDM, O=Contoso';
const challenge = async () => (await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;

beforeAll(async () => {
  t = await startTestGateway();
  device = await t.api.ok('POST', '/devices', { name: 'printer-7', platform: 'windows' });
  profile = await t.api.ok('POST', '/profiles', { name: 'Printers', scope: 'device', subjectName: 'CN={{DeviceName}},OU=MDM,O=Contoso', keySize: 2048 });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
  for (let i = 0; i < 2; i++) {
    const r = await scepEnroll({ scepUrl: t.scepUrl, challenge: await challenge(), subject: SUBJECT });
    expect(r.status).toBe('SUCCESS');
    issued.push(r.transactionId);
  }
  const bad = await scepEnroll({ scepUrl: t.scepUrl, challenge: tamper(await challenge()), subject: SUBJECT });
  expect(bad.status).toBe('FAILURE');
  refused = bad.transactionId;
}, 60_000);
afterAll(async () => {
  await t.stop();
});

describe('GET /api/v1/enrollments', () => {
  it('lists issued and refused transactions, newest first, each with its timeline', async () => {
    const rows: any[] = await t.api.ok('GET', '/enrollments');
    expect(rows.map((r) => r.transactionId)).toEqual([refused, issued[1], issued[0]]);
    expect(rows[0]).toMatchObject({ status: 'refused', certificateSerial: null, deviceId: null });
    expect(rows[0].reasonCode).toMatch(/^CHALLENGE_/);
    expect(typeof rows[0].reason).toBe('string');
    const certificates: any[] = await t.api.ok('GET', `/certificates?deviceId=${device.id}`);
    for (const row of rows.slice(1)) {
      expect(row).toMatchObject({ status: 'issued', kind: 'profile', deviceId: device.id, profileId: profile.id, reasonCode: null });
      expect(certificates.find((c) => c.transactionId === row.transactionId)?.serialNumber).toBe(row.certificateSerial);
    }
    for (const row of rows) {
      const timeline = await t.api.ok('GET', `/enrollments/${encodeURIComponent(row.transactionId)}`);
      expect(timeline.status).toBe(row.status);
    }
  });

  it('limit cuts the list from the oldest end', async () => {
    const rows: any[] = await t.api.ok('GET', '/enrollments?limit=2');
    expect(rows.map((r) => r.transactionId)).toEqual([refused, issued[1]]);
  });

  it('a request refused again under the same transactionID is listed once', async () => {
    const before: any[] = await t.api.ok('GET', '/enrollments');
    // Same transactionID, another spent-looking challenge: refused again.
    const again = await scepEnroll({ scepUrl: t.scepUrl, challenge: tamper(await challenge()), subject: SUBJECT, transactionId: refused });
    expect(again.status).toBe('FAILURE');
    const after: any[] = await t.api.ok('GET', '/enrollments');
    expect(after.map((r) => r.transactionId)).toEqual(before.map((r) => r.transactionId));
    expect(after[0].at >= before[0].at).toBe(true);
  });

  it('a refused retry of a recorded enrollment shows the enrollment, not the refusal', async () => {
    // Another CSR under an issued transaction's ID is refused (TRANSACTION_CSR_MISMATCH).
    const retry = await scepEnroll({ scepUrl: t.scepUrl, challenge: await challenge(), subject: SUBJECT, transactionId: issued[0] });
    expect(retry.status).toBe('FAILURE');
    const rows: any[] = await t.api.ok('GET', '/enrollments');
    expect(rows.filter((r) => r.transactionId === issued[0])).toEqual([expect.objectContaining({ status: 'issued' })]);
    // Also when that enrollment is older than the listed window: the refusal is newer, but not a refused transaction.
    const newest: any[] = await t.api.ok('GET', '/enrollments?limit=1');
    expect(newest.map((r) => [r.transactionId, r.status])).toEqual([[refused, 'refused']]);
  });

  it('refuses a bad limit with 400 naming it', async () => {
    for (const q of ['limit=0', 'limit=501', 'limit=1.5', 'limit=abc', 'limit=1&limit=2', 'colour=red']) {
      const r = await t.api.call('GET', `/enrollments?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error).toBe('invalid query');
      expect(r.body.issues[0].path, q).toBe(q.startsWith('colour') ? 'colour' : 'limit');
    }
    expect((await t.api.call('GET', '/enrollments?limit=500')).status).toBe(200);
  });

  it('needs the admin token', async () => {
    const r = await fetch(`${t.url}/api/v1/enrollments`);
    expect(r.status).toBe(401);
  });
});
