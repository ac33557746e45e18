import { X509Certificate } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppleDeviceSim } from '../../src/sim/apple.js';
import { FakeApns } from '../../src/sim/fake-apns.js';
import { generateDeviceKey, scepEnroll, type DeviceKey } from '../../src/sim/scep-client.js';
import { WindowsSimulator } from '../../src/sim/windows.js';
import { genrsa, runGroup, x509 } from '../helpers/interop.js';
import { startInstance, startRoundRobin, type Instance, type RoundRobin } from '../helpers/instances.js';
import { freshPostgresDatabase, TEST_PG_URL, type TestDatabase } from '../helpers/postgres.js';

// Issue 10: two gateway PROCESSES on one database (PostgreSQL when
// MDMGW_TEST_PG_URL is set, else one SQLite file), each with its own data
// directory, the keys shared through the database (MDMGW_KEY_STORE=database),
// behind a round-robin load balancer. They start at the same moment.

const SCEP_PATH = '/certsrv/mscep/mscep.dll';
const SCEPCLIENT = '/usr/bin/scepclient';
const PASSPHRASE = 'multi-instance test passphrase';
const ROUNDS = 20;

let root: string;
let lb: RoundRobin;
let apns: FakeApns;
let a: Instance;
let b: Instance;
let token: string;
let pgDatabase: TestDatabase | undefined;

const api = async (i: Instance, method: string, p: string, body?: unknown, expected = method === 'POST' ? 201 : 200) => {
  const res = await fetch(`${i.url}/api/v1${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== expected) throw new Error(`${i.name}: ${method} ${p}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
};
const serialOf = (der: Uint8Array) => new X509Certificate(der).serialNumber.toLowerCase();

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'mdmgw-multi-'));
  lb = await startRoundRobin();
  apns = await FakeApns.start();
  const apnsCa = path.join(root, 'apns-ca.pem');
  await writeFile(apnsCa, apns.ca.certPem);
  // A database of its own on the test cluster, else one SQLite file both processes open.
  pgDatabase = TEST_PG_URL ? await freshPostgresDatabase('mdmgw_multi') : undefined;
  const databaseUrl = pgDatabase?.url ?? `sqlite://${path.join(root, 'shared.sqlite')}`;
  console.info(`multi-instance: two processes on ${pgDatabase ? 'PostgreSQL' : 'one SQLite file'}`);
  const env = {
    MDMGW_DATABASE_URL: databaseUrl,
    MDMGW_KEY_STORE: 'database',
    MDMGW_CA_PASSPHRASE: PASSPHRASE,
    MDMGW_PUBLIC_URL: lb.url,
    MDMGW_CLIENT_CERT_HEADER: 'X-Client-Cert',
    MDMGW_APNS_URL: apns.url,
    NODE_EXTRA_CA_CERTS: apnsCa,
  };
  // Both at the same moment: the first to take the key lease creates the CA, the other reads it.
  [a, b] = await Promise.all([startInstance('A', path.join(root, 'a'), env), startInstance('B', path.join(root, 'b'), env)]);
  lb.setBackends([a.url, b.url]);
  token = (await readFile(path.join(a.dataDir, 'admin-token'), 'utf8')).trim();
}, 300_000);

afterAll(async () => {
  for (const i of [a, b]) i?.child.kill('SIGKILL');
  await lb?.stop();
  await apns?.stop();
  await pgDatabase?.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('two gateway processes on one database', () => {
  it('started together, they serve one CA, one RA and one admin token', async () => {
    expect((await readFile(path.join(b.dataDir, 'admin-token'), 'utf8')).trim()).toBe(token);
    const [ca, cb] = [await api(a, 'GET', '/ca'), await api(b, 'GET', '/ca')];
    expect(cb.certificate).toBe(ca.certificate);
    expect(cb.ra).toBe(ca.ra);
    // Their own data directories, the same key files in each.
    for (const f of ['ca.key', 'ra.key', 'challenge-signing.key', 'secrets.key']) {
      expect((await readFile(path.join(b.dataDir, f))).equals(await readFile(path.join(a.dataDir, f))), f).toBe(true);
    }
  });

  it('a challenge minted on A is redeemed on B by scepclient; the certificate is in the store for both', async (ctx) => {
    try {
      accessSync(SCEPCLIENT, constants.X_OK);
    } catch {
      console.warn(`not checked: ${SCEPCLIENT} is missing (Debian package "scep")`);
      ctx.skip();
    }
    const profile = await api(a, 'POST', '/profiles', { name: 'multi scepclient', scope: 'device', subjectName: 'CN={{DeviceName}},OU=MDM,O=scep-client,C=US', keySize: 2048, validityDays: 30 });
    const device = await api(a, 'POST', '/devices', { name: 'router-ab', platform: 'windows' });
    await api(a, 'POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const challenge = (await api(a, 'POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;
    const dir = path.join(root, 'scepclient');
    await mkdir(dir, { recursive: true });
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    await genrsa(key);
    const r = await runGroup(SCEPCLIENT, ['-server-url', `${b.url}${SCEP_PATH}`, '-private-key', key, '-certificate', cert, '-cn', 'router-ab', '-challenge', challenge], { cwd: dir, timeoutMs: 60_000 });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const serial = (await x509(cert, '-serial')).replace('serial=', '').toLowerCase();
    for (const i of [a, b]) expect((await api(i, 'GET', `/certificates/${serial}`)).deviceId).toBe(device.id);
    const verify = await runGroup('openssl', ['verify', '-CAfile', path.join(a.dataDir, 'ca.pem'), cert], { timeoutMs: 10_000 });
    expect(verify.stdout.trim()).toBe(`${cert}: OK`);
  }, 120_000);

  it(`the same challenge sent to A and B at the same moment is honoured exactly once, ${ROUNDS} rounds`, async () => {
    const profile = await api(a, 'POST', '/profiles', { name: 'multi race', scope: 'device', subjectName: 'CN={{DeviceName}},OU=MDM,O=race,C=US', keySize: 2048, validityDays: 30 });
    const device = await api(b, 'POST', '/devices', { name: 'racer', platform: 'windows' });
    await api(a, 'POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const keys: DeviceKey[] = [await generateDeviceKey('RSA', 2048), await generateDeviceKey('RSA', 2048)];
    const ra = (await import('../../src/sim/scep-client.js')).getCaCerts;
    const raCertificate = (await ra(`${a.url}${SCEP_PATH}`)).ra;
    const issued: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const challenge = (await api(round % 2 ? a : b, 'POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;
      const send = (i: Instance, key: DeviceKey) => scepEnroll({ scepUrl: `${i.url}${SCEP_PATH}`, subject: 'CN=racer,OU=MDM,O=race,C=US', challenge, key, raCertificate });
      const results = await Promise.all([send(a, keys[0]!), send(b, keys[1]!)]);
      const ok = results.filter((r) => r.status === 'SUCCESS');
      expect(ok, `round ${round}: ${results.map((r) => `${r.status} ${r.failInfoText ?? ''}`).join(' / ')}`).toHaveLength(1);
      const refused = results.find((r) => r.status !== 'SUCCESS')!;
      expect(refused.status).toBe('FAILURE');
      expect(refused.failInfoText).toMatch(/CHALLENGE_(ALREADY_USED|REUSED|USED)/);
      issued.push(serialOf(ok[0]!.certificate!));
    }
    const stored = (await api(a, 'GET', `/certificates?deviceId=${device.id}`)) as { serialNumber: string }[];
    expect(stored.map((c) => c.serialNumber).sort()).toEqual([...issued].sort());
  }, 600_000);

  it('an Apple and a Windows device checking in alternately through A and B lose no command and no status', async () => {
    await api(a, 'PUT', '/apple/push-certificate', await (async () => {
      const { pushCertificate } = await import('../../src/sim/fake-apns.js');
      const p = await pushCertificate(apns.ca, 'com.apple.mgmt.External.mi000000-0000-4000-8000-00000000de00');
      return { certificate: p.certPem, privateKey: p.keyPem };
    })());
    const user = await api(b, 'POST', '/users', { userPrincipalName: 'ada@contoso.com', email: 'ada@contoso.com', displayName: 'Ada' });
    const profile = await api(a, 'POST', '/profiles', { name: 'Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}},OU={{Platform}},O=Contoso Wi-Fi', subjectAlternativeNames: [{ type: 'upn', value: '{{UserPrincipalName}}' }], validityDays: 365 });
    await api(b, 'POST', '/assignments', { profileId: profile.id, userId: user.id });
    const before = lb.served.length;

    // Windows: enrollment and OMA-DM sessions through the load balancer (each request to the next instance).
    const winToken = await api(a, 'POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
    const win = new WindowsSimulator({ baseUrl: lb.url, upn: 'ada@contoso.com', password: winToken.token });
    const e = await win.enroll();
    expect(e.fault).toBeUndefined();
    const winId = /CN=([0-9a-f-]{36})/.exec(new X509Certificate(win.identity!).subject)![1]!;
    const first = await win.session();
    expect(first.enrolled[0]?.status).toBe(1);
    await win.session();

    // Apple: enrollment, check-ins and the command loop through the load balancer.
    const appleToken = await api(b, 'POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' });
    const apple = new AppleDeviceSim(lb.url, 'ios');
    await apple.enroll(appleToken.enrollmentUrl);
    const appleId = /CN=([0-9a-f-]{36})/.exec(new X509Certificate(apple.identity!.certificate).subject)![1]!;
    expect((await apple.authenticate()).status).toBe(200);
    expect((await apple.tokenUpdate()).status).toBe(200);
    const installs = await apple.drain();
    expect(installs.map((c) => (c.Command as { RequestType: string }).RequestType)).toContain('InstallProfile');
    // More commands queued on alternating instances, answered through the other.
    const queued: string[] = [];
    for (let i = 0; i < 6; i++) {
      const { command } = await api(i % 2 ? a : b, 'POST', `/apple/devices/${appleId}/commands`, { kind: i % 3 ? 'ProfileList' : 'CertificateList' });
      queued.push(command.id);
      if (i % 2) await apple.drain();
    }
    await apple.drain();
    await win.session();

    // Both instances served the devices.
    const served = lb.served.slice(before);
    expect(served.filter((x) => x === 0).length).toBeGreaterThan(5);
    expect(served.filter((x) => x === 1).length).toBeGreaterThan(5);
    // Every command answered, exactly once, with its result; nothing left queued or in flight.
    for (const i of [a, b]) {
      const commands = (await api(i, 'GET', `/apple/devices/${appleId}/commands`)) as { id: string; status: string }[];
      expect(commands.filter((c) => c.status !== 'acknowledged'), i.name).toEqual([]);
      expect(commands.map((c) => c.id)).toEqual(expect.arrayContaining(queued));
    }
    // Each device's delivery is installed with the certificate it holds.
    for (const id of [winId, appleId]) {
      const deliveries = (await api(id === winId ? b : a, 'GET', `/devices/${id}/deliveries`)) as { profileId: string; state: string; thumbprint: string | null }[];
      expect(deliveries.find((d) => d.profileId === profile.id)?.state, id).toBe('installed');
    }
    const appleCert = [...apple.installed.values()].find((p) => p.certificate)!.certificate!;
    expect((await api(b, 'GET', `/certificates/${serialOf(appleCert)}`)).deviceId).toBe(appleId);
  }, 600_000);

  it('kill -9 of one instance in the middle of an enrollment run loses no certificate a client received', async () => {
    const profile = await api(b, 'POST', '/profiles', { name: 'multi kill', scope: 'device', subjectName: 'CN={{DeviceName}},OU=MDM,O=kill,C=US', keySize: 2048, validityDays: 30 });
    const device = await api(b, 'POST', '/devices', { name: 'survivor', platform: 'windows' });
    await api(b, 'POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const key = await generateDeviceKey('RSA', 2048);
    const raCertificate = (await (await import('../../src/sim/scep-client.js')).getCaCerts(`${b.url}${SCEP_PATH}`)).ra;
    const received: string[] = [];
    let failed = 0;
    const enrollOnce = async (i: Instance) => {
      const challenge = (await api(b, 'POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;
      try {
        const r = await scepEnroll({ scepUrl: `${i.url}${SCEP_PATH}`, subject: 'CN=survivor,OU=MDM,O=kill,C=US', challenge, key, raCertificate });
        if (r.status === 'SUCCESS') received.push(serialOf(r.certificate!));
        else failed++;
      } catch {
        failed++; // A went away mid-request: the client got nothing
      }
    };
    // Four clients, each enrolling in turn through A and B; A dies after a few.
    let stop = false;
    const client = async (n: number) => {
      for (let k = 0; !stop; k++) await enrollOnce((k + n) % 2 ? a : b);
    };
    const clients = Promise.all([0, 1, 2, 3].map(client));
    while (received.length < 6) await new Promise((r) => setTimeout(r, 20));
    a.child.kill('SIGKILL');
    await a.exited;
    const atKill = received.length;
    while (received.length < atKill + 6) await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await clients;
    // Every certificate any client received is in the store, as the survivor reports it.
    const stored = new Set(((await api(b, 'GET', `/certificates?deviceId=${device.id}`)) as { serialNumber: string }[]).map((c) => c.serialNumber));
    const missing = received.filter((s) => !stored.has(s));
    expect(missing).toEqual([]);
    expect(received.length).toBeGreaterThanOrEqual(12);
    expect(failed).toBeGreaterThan(0); // requests to A after the kill did fail
    // The survivor still serves through the load balancer.
    expect((await fetch(`${lb.url}/readyz`)).status).toBe(200);
  }, 600_000);
});
