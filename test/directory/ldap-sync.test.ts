import { X509Certificate } from 'node:crypto';
import { Client, SizeLimitExceededError } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceAdapter } from '../../src/adapters/reference/index.js';
import { toPem } from '../../src/pem.js';
import { scepEnroll, type EnrollResult } from '../../src/sim/scep-client.js';
import { freePort, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { SERVICE_DN, SERVICE_PASSWORD, SIZE_LIMIT, SUFFIX, slapdMissing, startSlapd, type Slapd } from '../helpers/slapd.js';

// Issue 11: directory sync from a real OpenLDAP server (Debian's slapd) with
// 2,500 users, more than its 1,000-entry size limit (so only a paged read sees
// them all), and nested groups; the directory is then changed with ldapmodify
// and the changes must reach users, groups, certificates and challenges.

const missing = slapdMissing();
if (missing) console.warn(`LDAP sync tests skipped: ${missing}`);

const USERS = 2500;
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
const uid = (i: number) => `u${String(i).padStart(4, '0')}`;
const userDn = (i: number) => `uid=${uid(i)},${PEOPLE}`;
const groupDn = (cn: string) => `cn=${cn},${GROUPS}`;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

function group(cn: string, members: string[]): string {
  return [`dn: ${groupDn(cn)}`, 'objectClass: groupOfNames', `cn: ${cn}`, ...members.map((m) => `member: ${m}`)].join('\n');
}

function directoryLdif(): string {
  const users = range(0, USERS - 1).map((i) =>
    [`dn: ${userDn(i)}`, 'objectClass: inetOrgPerson', `uid: ${uid(i)}`, `cn: User ${i}`, 'sn: User', `mail: ${uid(i)}@example.org`, `departmentNumber: Dept-${i % 10}`, `employeeNumber: ${1000 + i}`].join('\n'),
  );
  const groups = [
    // staff nests engineering (which nests platform) and sales.
    group('staff', [userDn(0), groupDn('engineering'), groupDn('sales')]),
    group('engineering', [...range(1, 1200).map(userDn), groupDn('platform')]),
    group('platform', range(2000, 2009).map(userDn)),
    group('sales', range(1201, 1300).map(userDn)),
    group('vpn-users', [userDn(0), userDn(1), userDn(3)]),
    // A cycle ends.
    group('loop-a', [groupDn('loop-b'), userDn(5)]),
    group('loop-b', [groupDn('loop-a')]),
  ];
  return [...users, ...groups].join('\n\n');
}

const serialOf = (der: Uint8Array) => new X509Certificate(der).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
const certHeader = (der: Uint8Array) => ({ 'X-Client-Cert': encodeURIComponent(toPem(der)) });

describe.skipIf(missing !== null)('LDAP directory sync against slapd', () => {
  let ldap: Slapd;
  let t: TestGateway;
  const config = () => ({
    url: ldap.url,
    bindDn: SERVICE_DN,
    bindPassword: SERVICE_PASSWORD,
    userBaseDn: PEOPLE,
    groupBaseDn: GROUPS,
    preset: 'openldap',
    attributes: { Department: 'departmentNumber', EmployeeId: 'employeeNumber' },
    syncIntervalSeconds: 0,
  });
  const ldapUser = async (i: number) => {
    const all: { userPrincipalName: string }[] = await listAll('ldap');
    return all.find((u) => u.userPrincipalName === `${uid(i)}@example.org`) as any;
  };
  async function listAll(source?: string): Promise<any[]> {
    const out: any[] = [];
    let after: string | null = null;
    for (;;) {
      const q = new URLSearchParams({ limit: '1000', ...(source && { source }), ...(after && { after }) });
      const res = await fetch(`${t.api.base}/users?${q}`, { headers: { authorization: `Bearer ${t.api.token}` } });
      expect(res.status).toBe(200);
      out.push(...((await res.json()) as any[]));
      after = res.headers.get('x-next-cursor');
      if (!after) return out;
    }
  }
  const groupNamed = async (name: string) => ((await t.api.ok('GET', '/groups')) as any[]).find((g) => g.name === name);
  const membersOf = async (name: string) => ((await t.api.call('GET', `/groups/${(await groupNamed(name)).id}`)).status === 200 ? t.gw.storage.listGroupMembers((await groupNamed(name)).id) : []);

  beforeAll(async () => {
    ldap = await startSlapd(directoryLdif());
    t = await startTestGateway({ adapters: [referenceAdapter] });
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    await ldap?.stop();
  });

  it('the server cuts an unpaged search at its size limit, as AD does (so the sync must page)', async () => {
    const c = new Client({ url: ldap.url });
    try {
      await c.bind(SERVICE_DN, SERVICE_PASSWORD);
      await expect(c.search(PEOPLE, { filter: '(objectClass=inetOrgPerson)', attributes: ['uid'] })).rejects.toBeInstanceOf(SizeLimitExceededError);
      expect((await c.search(PEOPLE, { filter: '(objectClass=inetOrgPerson)', attributes: ['uid'], paged: { pageSize: 500 } })).searchEntries).toHaveLength(USERS);
      expect(USERS).toBeGreaterThan(SIZE_LIMIT);
    } finally {
      await c.unbind();
    }
  });

  it('PUT refuses bad input (400, naming the field) and a failing check (422 with the LDAP error), saving nothing', async () => {
    for (const [field, bad] of [
      ['url', { url: 'http://127.0.0.1:389' }],
      ['preset', { preset: 'novell' }],
      ['userFilter', { userFilter: 'objectClass=person' }],
      ['syncIntervalSeconds', { syncIntervalSeconds: 5 }],
      ['caCertificate', { caCertificate: 'not a certificate' }],
      ['startTls', { url: 'ldaps://127.0.0.1:636', startTls: true }],
      ['attributes.Department', { attributes: { Department: 'bad attr!' } }],
    ] as const) {
      const r = await t.api.call('PUT', '/directory/ldap', { ...config(), ...bad });
      expect([field, r.status]).toEqual([field, 400]);
      expect(r.body.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
    const { groupBaseDn: _omitted, ...withoutGroupBase } = config();
    const missing = await t.api.call('PUT', '/directory/ldap', withoutGroupBase);
    expect(missing.status).toBe(400);
    expect(missing.body.issues).toContainEqual(expect.objectContaining({ path: 'groupBaseDn', message: expect.stringMatching(/^groupBaseDn is required: the distinguished name/) }));
    const wrong = await t.api.call('PUT', '/directory/ldap', { ...config(), bindPassword: 'wrong' });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error).toMatch(/bind as cn=mdmgw,dc=example,dc=org refused: invalid credentials \(LDAP result 49\)/);
    const closed = await t.api.call('PUT', '/directory/ldap', { ...config(), url: `ldap://127.0.0.1:${await freePort()}` });
    expect(closed.status).toBe(422);
    expect(closed.body.error).toMatch(/cannot reach ldap:\/\/127\.0\.0\.1:\d+: connection refused/);
    const noBase = await t.api.call('PUT', '/directory/ldap', { ...config(), groupBaseDn: `ou=nowhere,${SUFFIX}` });
    expect(noBase.status).toBe(422);
    expect(noBase.body.error).toMatch(/group search \(ou=nowhere,dc=example,dc=org.*no such entry \(LDAP result 32\)/);
    const badFilter = await t.api.call('PUT', '/directory/ldap', { ...config(), userFilter: '(objectClass=inetOrgPerson' });
    expect(badFilter.status).toBe(400);
    expect((await t.api.call('GET', '/directory/ldap')).status).toBe(404);
    expect(await t.api.ok('GET', '/directory/ldap/status')).toMatchObject({ configured: false, lastSyncAt: null });
    expect((await t.api.call('POST', '/directory/ldap/sync', {})).status).toBe(409);
  });

  it('PUT saves a checked configuration without syncing; the password is sealed and never shown', async () => {
    const r = await t.api.call('PUT', '/directory/ldap', config());
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ url: ldap.url, preset: 'openldap', userFilter: '(objectClass=inetOrgPerson)', groupFilter: '(objectClass=groupOfNames)', bindPasswordSet: true });
    expect(JSON.stringify(r.body)).not.toContain(SERVICE_PASSWORD);
    const shown = await t.api.ok('GET', '/directory/ldap');
    expect(shown).toEqual(r.body);
    const stored = await t.gw.storage.getSetting('directory.ldap.secret.bindPassword');
    expect(stored).toMatch(/^sealed:v1:/);
    expect(stored).not.toContain(SERVICE_PASSWORD);
    expect(await t.gw.storage.getSetting('directory.ldap.config')).not.toContain(SERVICE_PASSWORD);
    // Leaving the password out keeps the stored one.
    const { bindPassword: _, ...withoutPassword } = config();
    expect((await t.api.call('PUT', '/directory/ldap', withoutPassword)).status).toBe(200);
    expect(await listAll('ldap')).toEqual([]);
    expect(await t.api.ok('GET', '/directory/ldap/status')).toMatchObject({ configured: true, lastSyncAt: null, counts: { users: 0 } });
  });

  it('the first sync brings 2,500 users (paged past the size limit) and the groups with nested members flattened; local users stay', async () => {
    const local = await t.api.ok('POST', '/users', { userPrincipalName: 'local@example.org', email: 'local@example.org', displayName: 'Local' });
    const started = Date.now();
    const counts = await t.api.ok('POST', '/directory/ldap/sync', {}, 200);
    const elapsedMs = Date.now() - started;
    console.log(`first sync of ${USERS} users: ${elapsedMs} ms`);
    const staffSize = 1 + 1200 + 10 + 100;
    expect(counts).toEqual({ usersCreated: USERS, usersUpdated: 0, usersDisabled: 0, groupsCreated: 7, groupsUpdated: 0, membershipsChanged: staffSize + 1200 + 10 + 10 + 100 + 3 + 1 + 1 });

    const synced = await listAll('ldap');
    expect(synced).toHaveLength(USERS);
    expect(new Set(synced.map((u) => u.externalId)).size).toBe(USERS);
    const u7 = synced.find((u) => u.userPrincipalName === `${uid(7)}@example.org`);
    expect(u7).toMatchObject({ source: 'ldap', enabled: true, email: `${uid(7)}@example.org`, displayName: 'User 7', attributes: { Department: 'Dept-7', EmployeeId: '1007', UserName: uid(7), OnPremisesDistinguishedName: userDn(7) } });
    expect(u7.externalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await listAll('local')).toEqual([local]);
    expect((await listAll()).length).toBe(USERS + 1);

    // Pages: 100 by default, at most 1000, X-Next-Cursor until the last.
    const first = await fetch(`${t.api.base}/users`, { headers: { authorization: `Bearer ${t.api.token}` } });
    expect(((await first.json()) as unknown[]).length).toBe(100);
    expect(first.headers.get('x-next-cursor')).toBeTruthy();
    for (const bad of ['limit=0', 'limit=1001', 'after=garbage', 'source=ad']) expect((await t.api.call('GET', `/users?${bad}`)).status).toBe(400);

    expect(await membersOf('staff')).toHaveLength(staffSize);
    expect(await membersOf('loop-a')).toEqual([{ userId: (await ldapUser(5)).id }]);
    expect(await membersOf('loop-b')).toEqual([{ userId: (await ldapUser(5)).id }]);
    expect(await groupNamed('staff')).toMatchObject({ source: 'ldap', externalId: expect.stringMatching(/^[0-9a-f-]{36}$/) });

    const status = await t.api.ok('GET', '/directory/ldap/status');
    expect(status).toMatchObject({ configured: true, lastError: null, lastResult: counts, counts: { users: USERS, enabledUsers: USERS, groups: 7 }, skipped: { count: 0 } });
    expect(status.lastSuccessAt).toBe(status.lastSyncAt);

    // Nothing changed: a second sync changes nothing.
    expect(await t.api.ok('POST', '/directory/ldap/sync', {}, 200)).toEqual({ usersCreated: 0, usersUpdated: 0, usersDisabled: 0, groupsCreated: 0, groupsUpdated: 0, membershipsChanged: 0 });
  }, 120_000);

  it('refuses to edit synced users and synced group members by hand (409 with the reason); local ones still work', async () => {
    const u = await ldapUser(9);
    for (const [method, path, body] of [
      ['PATCH', `/users/${u.id}`, { displayName: 'Hand made' }],
      ['PATCH', `/users/${u.id}`, { enabled: false }],
      ['DELETE', `/users/${u.id}`, undefined],
      ['POST', `/groups/${(await groupNamed('staff')).id}/members`, { userId: u.id }],
      ['DELETE', `/groups/${(await groupNamed('staff')).id}/members/users/${(await ldapUser(0)).id}`, undefined],
    ] as const) {
      const r = await t.api.call(method, path, body);
      expect([method, path, r.status]).toEqual([method, path, 409]);
      expect(r.body.error).toMatch(/synced from the directory \(source ldap\)/);
    }
    expect(await t.api.ok('GET', `/users/${u.id}`)).toEqual(u);
    const local = (await listAll('local'))[0];
    expect((await t.api.ok('PATCH', `/users/${local.id}`, { displayName: 'Still mine' })).displayName).toBe('Still mine');
    const mine = await t.api.ok('POST', '/groups', { name: 'hand-made' });
    await t.api.ok('POST', `/groups/${mine.id}/members`, { userId: u.id });
  });

  it('changes in the directory flow through: new values in deliveries, old challenges refused, removed users disabled and their certificates revoked', async () => {
    // A user-scope VPN profile for the vpn-users group; each member has a device with the reference adapter.
    const profile = await t.api.ok('POST', '/profiles', { name: 'directory vpn', scope: 'user', subjectName: 'CN={{UserPrincipalName}},OU={{user.Department}},O=VPN' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, groupId: (await groupNamed('vpn-users')).id });
    const setUp = async (i: number) => {
      const user = await ldapUser(i);
      const device = await t.api.ok('POST', '/devices', { name: `ldap-dev-${i}`, platform: 'android', userId: user.id });
      const idc = await t.api.ok('POST', `/devices/${device.id}/identity-challenge`);
      const identity = await scepEnroll({ scepUrl: idc.scepUrl, challenge: idc.challenge, subject: idc.subject });
      expect(identity.status).toBe('SUCCESS');
      const ch = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
      expect(ch.subject).toBe(`CN=${uid(i)}@example.org,OU=Dept-${i % 10},O=VPN`);
      const vpn = await scepEnroll({ scepUrl: t.scepUrl, challenge: ch.challenge, subject: ch.subject });
      expect(vpn.status).toBe('SUCCESS');
      return { user, device, identity, vpn };
    };
    const [u1, u3] = [await setUp(1), await setUp(3)];
    const payload = async (identity: EnrollResult) => (await fetch(`${t.url}/reference/v1/payload`, { headers: certHeader(identity.certificate!) })).json() as Promise<any>;
    expect((await payload(u1.identity)).items[0].subject).toContainEqual({ type: 'OU', value: 'Dept-1' });
    // Minted for the old values, spent after the change.
    const early = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: u1.device.id });

    await ldap.modify(`dn: ${userDn(1)}\nchangetype: modify\nreplace: departmentNumber\ndepartmentNumber: Research`);
    await ldap.modify(`dn: ${groupDn('vpn-users')}\nchangetype: modify\ndelete: member\nmember: ${userDn(0)}\n-\nadd: member\nmember: ${userDn(2)}`);
    await ldap.modify(`dn: ${userDn(3)}\nchangetype: delete`);

    const counts = await t.api.ok('POST', '/directory/ldap/sync', { full: true }, 200);
    expect(counts).toEqual({ usersCreated: 0, usersUpdated: 1, usersDisabled: 1, groupsCreated: 0, groupsUpdated: 0, membershipsChanged: 2 });
    await t.gw.devicesChanged.idle();

    // The attribute: the user has it, the next delivery carries it, the old challenge is refused.
    expect((await ldapUser(1)).attributes.Department).toBe('Research');
    expect((await payload(u1.identity)).items[0].subject).toContainEqual({ type: 'OU', value: 'Research' });
    const late = await scepEnroll({ scepUrl: t.scepUrl, challenge: early.challenge, subject: early.subject });
    expect(late.status).toBe('FAILURE');
    expect(late.failInfoText).toMatch(/REQUEST_CHANGED/);
    expect((await t.api.ok('GET', `/certificates/${serialOf(u1.vpn.certificate!)}`)).revokedAt).toBeNull();

    // The membership.
    const vpnMembers = (await membersOf('vpn-users')).map((m: any) => m.userId);
    expect(vpnMembers).toContain((await ldapUser(2)).id);
    expect(vpnMembers).not.toContain((await ldapUser(0)).id);

    // The removed account: disabled here, its certificate revoked, audited; its device's identity stays.
    const gone = await t.api.ok('GET', `/users/${u3.user.id}`);
    expect(gone).toMatchObject({ enabled: false, source: 'ldap' });
    const revoked = await t.api.ok('GET', `/certificates/${serialOf(u3.vpn.certificate!)}`);
    expect(revoked).toMatchObject({ revokedAt: gone.disabledAt, revocationReason: 'affiliationChanged' });
    expect((await t.api.ok('GET', `/certificates/${serialOf(u3.identity.certificate!)}`)).revokedAt).toBeNull();
    const audit = (await t.api.ok('GET', '/audit?type=directory.user.disabled')).at(-1);
    expect(audit).toMatchObject({ actor: 'ldap-sync', details: { userId: u3.user.id, why: 'removed from the directory', revoked: [serialOf(u3.vpn.certificate!)] } });
    expect((await t.api.call('POST', '/challenges', { profileId: profile.id, deviceId: u3.device.id })).status).toBe(409);

    // The local user was never touched.
    expect((await listAll('local'))[0]).toMatchObject({ displayName: 'Still mine', enabled: true });
  }, 120_000);

  it('an incremental sync reads only what changed (modifyTimestamp) and disables no one', async () => {
    await ldap.modify(`dn: ${userDn(10)}\nchangetype: modify\nreplace: cn\ncn: Renamed Ten`);
    const counts = await t.api.ok('POST', '/directory/ldap/sync', { full: false }, 200);
    expect(counts).toMatchObject({ usersCreated: 0, usersUpdated: 1, usersDisabled: 0 });
    expect((await ldapUser(10)).displayName).toBe('Renamed Ten');
  });

  it('a sync that cannot read the directory changes nothing and says why in the status and /health', async () => {
    const before = await t.api.ok('GET', '/directory/ldap/status');
    await ldap.modify(`dn: ${userDn(11)}\nchangetype: modify\nreplace: cn\ncn: Never Seen`);
    await ldap.stop();
    const r = await t.api.call('POST', '/directory/ldap/sync', {});
    expect(r.status).toBe(502);
    expect(r.body.error).toMatch(/nothing was changed: cannot reach ldap:\/\/127\.0\.0\.1:\d+: connection refused/);
    const status = await t.api.ok('GET', '/directory/ldap/status');
    expect(status).toMatchObject({ lastSuccessAt: before.lastSuccessAt, lastError: expect.stringMatching(/connection refused/), counts: before.counts });
    expect(status.lastSyncAt > before.lastSyncAt).toBe(true);
    expect((await ldapUser(11)).displayName).toBe('User 11');
    const health = await t.api.ok('GET', '/health');
    expect(health.components).toContainEqual(expect.objectContaining({ component: 'directory:ldap', status: 'warning', message: expect.stringMatching(/the last directory sync failed.*connection refused/) }));
  });
});
