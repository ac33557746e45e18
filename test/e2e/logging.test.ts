import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Every step is logged with the SCEP transactionID, and no log line ever
// carries a challenge, an enrollment token or a private key (at trace level).

let t: TestGateway;
let log = '';
beforeAll(async () => {
  const sink = new PassThrough();
  sink.on('data', (d) => (log += d));
  t = await startTestGateway({ logTo: sink });
});
afterAll(async () => {
  await t.stop();
});

describe('logging', () => {
  it('traces an enrollment by transactionId and never logs secrets', async () => {
    const device = await t.api.ok('POST', '/devices', { name: 'log-1', platform: 'windows' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'log', scope: 'device', subjectName: 'CN={{DeviceName}}' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    const ok = await scepEnroll({ scepUrl: t.scepUrl, challenge, subject: 'CN=log-1' });
    expect(ok.status).toBe('SUCCESS');
    const refused = await scepEnroll({ scepUrl: t.scepUrl, challenge, subject: 'CN=log-1' });
    expect(refused.status).toBe('FAILURE');

    const lines = log.trim().split('\n').map((l) => JSON.parse(l) as { transactionId?: string; step?: string; steps?: string[]; msg: string; reason?: string; level: number });
    const mine = lines.filter((l) => l.transactionId === ok.transactionId);
    // The three audit steps of an issuance share one line (steps, in order); every step is still there, at info, in order.
    const trace = mine.flatMap((l) => l.steps ?? [l.step ?? l.msg]);
    expect(trace).toEqual(['pkiMessage received', 'scep.received', 'crp.passed', 'ca.issued', 'CertRep SUCCESS']);
    expect(mine.every((l) => l.level === 30)).toBe(true);
    expect(mine).toHaveLength(3);
    // A refused request: its received step and its refusal (warn, with the reason) are both traced by its transactionId.
    const theirs = lines.filter((l) => l.transactionId === refused.transactionId);
    expect(theirs.flatMap((l) => l.steps ?? [l.step ?? l.msg])).toEqual(expect.arrayContaining(['pkiMessage received', 'scep.received', 'crp.refused', 'CertRep FAILURE']));
    expect(lines.some((l) => l.transactionId === refused.transactionId && l.reason === 'CHALLENGE_ALREADY_USED')).toBe(true);
    expect(log).not.toContain(challenge);
    expect(log).not.toContain(challenge.slice(0, 40));
    expect(log).not.toMatch(/PRIVATE KEY/);
    expect(log).not.toContain(t.gw.adminToken);
  });
});
