import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppleAdapter } from '../../../src/adapters/apple/index.js';
import { AppleDeviceSim } from '../../../src/sim/apple.js';
import { FakeApns, pushCertificate } from '../../../src/sim/fake-apns.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { commitsOf, recordSqliteStatements } from '../../helpers/sql-statements.js';

// Issue 13: what an Apple connect writes about the command it answers and the
// command it is sent (the answer's status, the profile records in the device
// state, the delivery reports with their audit records, the next command
// marked sent and its apple.command.sent record) is one transaction
// (adapters/apple/connect-writes.ts): one commit between the lease's, and a
// failure anywhere in it leaves none of it written.

let t: TestGateway;
let apns: FakeApns;
let userId = '';
const recorder = recordSqliteStatements();

beforeAll(async () => {
  apns = await FakeApns.start();
  t = await startTestGateway({ adapters: [createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })] });
  const push = await pushCertificate(apns.ca, 'com.apple.mgmt.External.0d6f1a2b-cwrt-4c7d-9e0f-1a2b3c4d5e6f');
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem });
  userId = (await t.api.ok('POST', '/users', { userPrincipalName: 'writes@contoso.com', email: 'writes@contoso.com', displayName: 'Writes' })).id;
  for (let i = 1; i <= 2; i++) {
    const p = await t.api.ok('POST', '/profiles', { name: `writes ${i}`, scope: 'device', subjectName: `CN={{DeviceId}},OU=W${i},O=Writes` });
    await t.api.ok('POST', '/assignments', { profileId: p.id, userId });
  }
});
afterAll(async () => {
  await t?.stop();
  await apns?.stop();
});

async function enrolledDevice(): Promise<AppleDeviceSim> {
  const sim = new AppleDeviceSim(t.url, 'ios');
  await sim.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId, platform: 'ios' })).enrollmentUrl);
  expect((await sim.authenticate()).status).toBe(200);
  expect((await sim.tokenUpdate()).status).toBe(200);
  return sim;
}

/** The device a command was queued for. */
async function deviceOf(commandId: string): Promise<string> {
  const r = await sql<{ device_id: string }>`select device_id from device_commands where id = ${commandId}`.execute(kysely());
  return r.rows[0]!.device_id;
}

const kysely = () => (t.gw.storage as unknown as { db: Kysely<unknown> }).db;

/** Enrolled and authenticated, no TokenUpdate yet; its device id. */
async function authenticatedDevice(): Promise<{ sim: AppleDeviceSim; deviceId: string }> {
  const token = await t.api.ok('POST', '/enrollment-tokens', { userId, platform: 'ios' });
  const sim = new AppleDeviceSim(t.url, 'ios');
  await sim.enroll(token.enrollmentUrl);
  expect((await sim.authenticate()).status).toBe(200);
  const r = await sql<{ device_id: string }>`select device_id from platform_state where adapter = 'apple' and state like ${`%${sim.udid}%`}`.execute(kysely());
  return { sim, deviceId: r.rows[0]!.device_id };
}

describe('Apple TokenUpdate writes (apple13)', () => {
  it('the token, its audit record and the queued commands with their reports and state are one commit (besides the lease)', async () => {
    const { sim, deviceId } = await authenticatedDevice();
    recorder.executed.length = 0;
    recorder.recording = true;
    const r = await sim.tokenUpdate().finally(() => (recorder.recording = false));
    expect(r.status).toBe(200);
    const writes = recorder.executed.filter((s) => !/"leases"/.test(s));
    expect(commitsOf(writes)).toBe(1);
    const commands = await t.gw.storage.listCommands({ deviceId });
    expect(commands.map((c) => [c.kind, c.status])).toEqual([['InstallProfile', 'queued'], ['InstallProfile', 'queued']]);
    // The state names the commands as stored (their ids were named before the one write).
    const state = (await t.gw.storage.getPlatformState(deviceId, 'apple')) as { profiles: Record<string, { commandId: string; status: string }>; channels: Record<string, { token: string }> };
    expect(Object.values(state.profiles).map((p) => p.commandId).sort()).toEqual(commands.map((c) => c.id).sort());
    expect(Object.keys(state.channels)).toEqual(['device']);
    const statuses = await t.gw.storage.listDeliveryStatus({ deviceId });
    expect(statuses.map((x) => x.state)).toEqual(['pending', 'pending']);
    const audit = (await t.gw.storage.listAudit()).filter((e) => e.actor === `device:${deviceId}`).map((e) => e.type);
    expect(audit.filter((x) => x === 'apple.checkin.tokenupdate')).toHaveLength(1);
    expect(audit.filter((x) => x === 'device.report')).toHaveLength(2);
  });

  it('a failure while writing them leaves none written: no token, no command, no report, no audit; the retry writes all', async () => {
    const { sim, deviceId } = await authenticatedDevice();
    const before = {
      state: await t.gw.storage.getPlatformState(deviceId, 'apple'),
      audit: (await t.gw.storage.listAudit()).length,
    };
    await sql`create trigger fail_token_update before insert on audit_events when new.type = 'apple.checkin.tokenupdate' begin select raise(abort, 'injected failure'); end`.execute(kysely());
    try {
      expect((await sim.tokenUpdate()).status).toBeGreaterThanOrEqual(500);
    } finally {
      await sql`drop trigger fail_token_update`.execute(kysely());
    }
    expect(await t.gw.storage.listCommands({ deviceId })).toEqual([]);
    expect(await t.gw.storage.listDeliveryStatus({ deviceId })).toEqual([]);
    expect(await t.gw.storage.getPlatformState(deviceId, 'apple')).toEqual(before.state);
    expect((await t.gw.storage.listAudit()).length).toBe(before.audit);
    expect((await sim.tokenUpdate()).status).toBe(200);
    expect(await t.gw.storage.listCommands({ deviceId })).toHaveLength(2);
    expect(await t.gw.storage.listDeliveryStatus({ deviceId })).toHaveLength(2);
  });
});

describe('Apple connect writes', () => {
  it('the answer to an InstallProfile and the next one sent are one commit (besides the lease)', async () => {
    const sim = await enrolledDevice();
    const first = await sim.connect({ Status: 'Idle' });
    const answer = await sim.execute(first!);
    recorder.executed.length = 0;
    recorder.recording = true;
    const second = await sim.connect({ CommandUUID: first!.CommandUUID, ...answer }).finally(() => (recorder.recording = false));
    expect((second!.Command as { RequestType: string }).RequestType).toBe('InstallProfile');
    const writes = recorder.executed.filter((s) => !/"leases"/.test(s));
    expect(commitsOf(writes)).toBe(1);
    // All of it in that one transaction: the answer, the take, the state, the reports, the audit records.
    const begin = writes.findIndex((s) => /^begin/i.test(s));
    const inside = writes.slice(begin, writes.findIndex((s, i) => i > begin && /^commit/i.test(s)));
    for (const re of [/^update "device_commands" set "status" = \?, "updated_at"/, /^update "device_commands" set "status" = \?, "result"/, /^insert into "platform_state"/, /^insert into "delivery_status"/, /^insert into "audit_events"/]) {
      expect(inside.filter((s) => re.test(s)).length, String(re)).toBeGreaterThan(0);
    }
  });

  it('a failure while writing them leaves none written: the command stays sent, no report, no audit, the state as it was', async () => {
    const sim = await enrolledDevice();
    const first = await sim.connect({ Status: 'Idle' });
    const answer = await sim.execute(first!);
    const deviceId = await deviceOf(String(first!.CommandUUID));
    const before = {
      commands: await t.gw.storage.listCommands({ deviceId }),
      statuses: await t.gw.storage.listDeliveryStatus({ deviceId }),
      state: await t.gw.storage.getPlatformState(deviceId, 'apple'),
      audit: (await t.gw.storage.listAudit()).length,
    };
    // The last record the exchange writes is refused by the database.
    await sql`create trigger fail_command_sent before insert on audit_events when new.type = 'apple.command.sent' begin select raise(abort, 'injected failure'); end`.execute(kysely());
    try {
      await expect(sim.connect({ CommandUUID: first!.CommandUUID, ...answer })).rejects.toThrow(/HTTP 5\d\d/);
    } finally {
      await sql`drop trigger fail_command_sent`.execute(kysely());
    }
    expect(await t.gw.storage.listCommands({ deviceId })).toEqual(before.commands);
    expect(await t.gw.storage.listDeliveryStatus({ deviceId })).toEqual(before.statuses);
    expect(await t.gw.storage.getPlatformState(deviceId, 'apple')).toEqual(before.state);
    expect((await t.gw.storage.listAudit()).length).toBe(before.audit);
    // The device sends its answer again: now it is recorded and the next profile sent.
    const next = await sim.connect({ CommandUUID: first!.CommandUUID, ...answer });
    expect((next!.Command as { RequestType: string }).RequestType).toBe('InstallProfile');
    const commands = await t.gw.storage.listCommands({ deviceId });
    expect(commands.find((c) => c.id === first!.CommandUUID)?.status).toBe('acknowledged');
    expect(commands.find((c) => c.id === next!.CommandUUID)?.status).toBe('sent');
  });
});
