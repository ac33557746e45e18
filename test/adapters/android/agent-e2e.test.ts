import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter, createAndroidAdapter } from '../../../src/adapters/android/index.js';
import { referenceAdapter } from '../../../src/adapters/reference/index.js';
import { SCHEMAS } from '../../../src/adapters/android/versions.js';
import { EnrollmentTokens } from '../../../src/core/enrollment-tokens.js';
import { buildCsr, generateDeviceKey } from '../../../src/sim/scep-client.js';
import { toPem } from '../../../src/pem.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { schemaErrors } from './schema-validator.js';
import { AndroidAgentSim, PIXEL_8, sha256Hex } from '../../../src/sim/android.js';

// The Android agent end to end against a real gateway: token enrollment,
// identity over SCEP, policy with ETags, real key generation and SCEP per
// certificate policy, status reports seen in the admin API, and the failure
// paths. The reference adapter is mounted too only so that tokens for another
// platform can be minted.

// The adapter's clock (not core's) can be moved forward, to reach renewal time.
let skewMs = 0;
const skewedAndroid = createAndroidAdapter({ now: () => new Date(Date.now() + skewMs) });

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [skewedAndroid, referenceAdapter] });
});
afterAll(async () => {
  await t.stop();
});

let n = 0;
async function userWithGroup() {
  n += 1;
  const upn = `user${n}@contoso.com`;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `User ${n}` });
  const group = await t.api.ok('POST', '/groups', { name: `android-${n}` });
  await t.api.ok('POST', `/groups/${group.id}/members`, { userId: user.id });
  return { user, group, upn };
}

async function token(userId: string, platform = 'android') {
  return t.api.ok('POST', '/enrollment-tokens', { userId, platform });
}

async function wifiProfile(groupId: string, extra: Record<string, unknown> = {}) {
  const profile = await t.api.ok('POST', '/profiles', {
    name: 'Contoso Wi-Fi',
    scope: 'user',
    subjectName: 'CN={{UserPrincipalName}},O=Contoso',
    subjectAlternativeNames: [
      { type: 'upn', value: '{{UserPrincipalName}}' },
      { type: 'email', value: '{{EmailAddress}}' },
    ],
    scepServerUrls: [t.scepUrl],
    ...extra,
  });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, groupId });
  return profile;
}

async function enrolledAgent() {
  const { user, group, upn } = await userWithGroup();
  const profile = await wifiProfile(group.id);
  const agent = new AndroidAgentSim(t.url);
  const answer = await agent.enroll((await token(user.id)).enrollmentUrl);
  return { user, group, upn, profile, agent, answer };
}

describe('android agent end to end', () => {
  it('enrolls, fetches its policy, enrolls each certificate over SCEP, reports, and then costs a 304', async () => {
    const { user, group, upn } = await userWithGroup();
    const wifi = await wifiProfile(group.id);
    const created = await token(user.id);
    expect(created.enrollmentUrl).toBe(`${t.url}/android/v1/enroll?token=${created.token}`);

    const agent = new AndroidAgentSim(t.url);
    const answer = await agent.enroll(created.enrollmentUrl, { ...PIXEL_8, serialNumber: 'PX8-0001' });
    expect(answer.identity.subject).toContain(answer.deviceId);
    expect(answer.identity.caFingerprint).toBe(sha256Hex(t.gw.root.certificate));
    expect(Buffer.from(answer.identity.caCertificate, 'base64').equals(Buffer.from(t.gw.root.certificate))).toBe(true);
    expect(answer.endpoints.policy).toBe(`${t.url}/android/v1/policy`);

    // The device record is the token's user's, with the facts kept in the adapter's state.
    const device = await t.api.ok('GET', `/devices/${answer.deviceId}`);
    // Name and serial are the agent's report, beside (not in) the admin's fields.
    expect(device).toMatchObject({ platform: 'android', userId: user.id, name: null, serialNumber: null, reported: { name: 'Google Pixel 8', serialNumber: 'PX8-0001', conflicts: [] } });
    const state = await t.gw.storage.getPlatformState(answer.deviceId, 'android');
    expect(state).toMatchObject({ facts: { model: 'Pixel 8', osVersion: '14', securityPatchLevel: '2024-05-05', hardwareBackedKeystore: true, strongBox: true }, schemaVersions: [1] });
    const certs = await t.api.ok('GET', `/certificates?deviceId=${answer.deviceId}`);
    expect(certs.filter((c: { kind: string }) => c.kind === 'identity')).toHaveLength(1);

    // A device-scope profile assigned to the device itself, alongside the user's.
    const vpn = await t.api.ok('POST', '/profiles', {
      name: 'Contoso VPN',
      scope: 'device',
      subjectName: 'CN={{DeviceName}},OU=Mobile\\, EMEA,O=Contoso',
      subjectAlternativeNames: [{ type: 'dns', value: '{{DeviceId}}.devices.contoso.com' }],
      keyProtection: 'tpmRequired',
      keyUsage: ['digitalSignature'],
    });
    await t.api.ok('POST', '/assignments', { profileId: vpn.id, deviceId: answer.deviceId });

    const first = await agent.fetchPolicy();
    expect(first.status).toBe(200);
    expect(first.etag).toMatch(/^"[0-9a-f]{64}"$/);
    expect(first.contentType).toContain('application/vnd.mdmgw.android-policy+json');
    const doc = first.document!;
    expect(schemaErrors(doc)).toEqual([]);
    expect(doc.deviceId).toBe(answer.deviceId);
    expect(doc.policies.map((p) => p.id).sort()).toEqual([wifi.id, vpn.id].sort());
    for (const p of doc.policies) {
      expect(p.action).toBe('enroll');
      expect(p.scep.challenge).toEqual(expect.any(String));
      expect(p.scep.url).toBe(t.scepUrl);
    }
    const wifiPolicy = doc.policies.find((p) => p.id === wifi.id)!;
    expect(wifiPolicy.scep.subject).toBe(`CN=${upn},O=Contoso`);
    expect(wifiPolicy.scep.subjectAltNames).toEqual([
      { type: 'upn', value: upn },
      { type: 'email', value: upn },
    ]);
    expect(doc.policies.find((p) => p.id === vpn.id)!.keyStore).toMatchObject({ requireHardwareBacked: true, exportable: false, alias: `mdmgw-${vpn.id}` });

    // The same challenge is served until it is used: same document, same ETag, and a 304 when asked conditionally.
    const again = await agent.fetchPolicy();
    expect(again.etag).toBe(first.etag);
    expect(again.document).toEqual(doc);
    expect((await agent.fetchPolicy({ conditional: true })).status).toBe(304);

    const installed = await agent.applyPolicy(doc);
    expect(installed).toHaveLength(2);
    const vpnCert = new X509Certificate(installed.find((k) => k.policyId === vpn.id)!.certificate);
    expect(vpnCert.subject).toContain('OU=Mobile\\, EMEA');
    expect(vpnCert.subjectAltName).toContain(`${answer.deviceId}.devices.contoso.com`);

    // The admin sees both, matched to the certificates we issued.
    const statuses = await t.api.ok('GET', `/devices/${answer.deviceId}/deliveries`);
    for (const k of installed) {
      const serial = new X509Certificate(k.certificate).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
      expect(statuses).toContainEqual(
        expect.objectContaining({ profileId: k.policyId, state: 'installed', thumbprint: k.thumbprint, certificateSerial: serial, detail: `KeyChain alias ${k.alias}` }),
      );
    }

    // Installed and current: no challenge, a new document, and a 304 for it afterwards.
    const after = await agent.fetchPolicy({ conditional: true });
    expect(after.status).toBe(200);
    expect(after.etag).not.toBe(first.etag);
    expect(schemaErrors(after.document)).toEqual([]);
    for (const p of after.document!.policies) {
      expect(p.action).toBe('keep');
      expect(p.scep.challenge).toBeNull();
    }
    const cached = await agent.fetchPolicy({ conditional: true });
    expect(cached.status).toBe(304);
    expect(cached.etag).toBe(after.etag);
  });

  it('a new profile version asks for enrollment again, with a new challenge', async () => {
    const { agent, profile } = await enrolledAgent();
    const first = (await agent.fetchPolicy()).document!;
    await agent.applyPolicy(first);
    const kept = await agent.fetchPolicy();
    expect(kept.document!.policies[0]!.action).toBe('keep');

    const v2 = await t.api.ok('PUT', `/profiles/${profile.id}`, {
      name: 'Contoso Wi-Fi',
      scope: 'user',
      subjectName: 'CN={{UserPrincipalName}},OU=v2,O=Contoso',
      subjectAlternativeNames: [{ type: 'upn', value: '{{UserPrincipalName}}' }],
      scepServerUrls: [t.scepUrl],
    }, 200);
    expect(v2.version).toBe(2);
    const changed = await agent.fetchPolicy({ conditional: true });
    expect(changed.status).toBe(200);
    const p = changed.document!.policies[0]!;
    expect(p).toMatchObject({ version: 2, action: 'enroll' });
    expect(p.scep.challenge).not.toBe(first.policies[0]!.scep.challenge);
    const [k] = await agent.applyPolicy(changed.document!);
    expect(new X509Certificate(k!.certificate).subject).toContain('OU=v2');
  });

  it('asks for renewal once the installed certificate is inside its renewal threshold', async () => {
    const { agent, answer, profile } = await enrolledAgent();
    const [k] = await agent.applyPolicy((await agent.fetchPolicy()).document!);
    expect((await agent.fetchPolicy()).document!.policies[0]!.action).toBe('keep');
    try {
      // 365-day certificate, 20 % threshold: at day 300 it is due.
      skewMs = 300 * 24 * 3600_000;
      const due = await agent.fetchPolicy({ conditional: true });
      expect(due.status).toBe(200);
      const p = due.document!.policies[0]!;
      expect(p).toMatchObject({ id: profile.id, action: 'renew' });
      expect(p.scep.challenge).toEqual(expect.any(String));
      expect(schemaErrors(due.document)).toEqual([]);
      const [renewed] = await agent.applyPolicy(due.document!);
      expect(renewed!.thumbprint).not.toBe(k!.thumbprint);
      expect(renewed!.alias).toBe(k!.alias);
      // Back to the real clock: the renewed certificate is fresh, so keep (and no challenge).
      skewMs = 0;
      const back = (await agent.fetchPolicy()).document!.policies[0]!;
      expect(back).toMatchObject({ action: 'keep', scep: { challenge: null } });
      const [s] = await t.api.ok('GET', `/devices/${answer.deviceId}/deliveries`);
      expect(s).toMatchObject({ state: 'installed', thumbprint: renewed!.thumbprint });
    } finally {
      skewMs = 0;
    }
  });

  it('times renewal from the certificate the gateway issued, not from when the agent reported it', async () => {
    const { user, group } = await userWithGroup();
    // Ten days, renew with half left: due five days after the certificate's notBefore.
    const profile = await wifiProfile(group.id, { validityDays: 10, renewalThresholdPercent: 50 });
    const agent = new AndroidAgentSim(t.url);
    await agent.enroll((await token(user.id)).enrollmentUrl);
    const k = await agent.enrollPolicy((await agent.fetchPolicy()).document!.policies[0]!);
    try {
      // The agent reports four days late and without the certificate: counted from the report,
      // renewal would be nine days away.
      skewMs = 4 * 24 * 3600_000;
      const res = await agent.postStatus({ results: [{ policyId: profile.id, policyVersion: 1, state: 'installed', thumbprint: k.thumbprint, alias: k.alias }] });
      expect(res.status).toBe(204);
      expect((await agent.fetchPolicy()).document!.policies[0]!).toMatchObject({ action: 'keep', scep: { challenge: null } });
      skewMs = 6 * 24 * 3600_000;
      const due = (await agent.fetchPolicy()).document!.policies[0]!;
      expect(due).toMatchObject({ id: profile.id, action: 'renew', scep: { challenge: expect.any(String) } });
    } finally {
      skewMs = 0;
    }
  });

  it('a challenge the agent enrolled with is not served again, though the agent never reported', async () => {
    const { agent, profile } = await enrolledAgent();
    const first = await agent.fetchPolicy();
    const served = first.document!.policies[0]!;
    await agent.enrollPolicy(served); // SCEP done, then the agent is gone before POST /status
    const next = await agent.fetchPolicy({ conditional: true });
    expect(next.status).toBe(200);
    expect(next.etag).not.toBe(first.etag);
    const p = next.document!.policies[0]!;
    expect(p).toMatchObject({ id: profile.id, action: 'enroll' }); // nothing reported installed yet
    expect(p.scep.challenge).toEqual(expect.any(String));
    expect(p.scep.challenge).not.toBe(served.scep.challenge);
    // The fresh one works, and is then stable again until used.
    expect((await agent.fetchPolicy({ conditional: true })).status).toBe(304);
    expect(await agent.applyPolicy(next.document!)).toHaveLength(1);
  });

  it('a failed result is shown to the admin and the next fetch carries a fresh challenge', async () => {
    const { agent, profile, answer } = await enrolledAgent();
    const first = await agent.fetchPolicy();
    const challenge = first.document!.policies[0]!.scep.challenge;
    const res = await agent.postStatus({ results: [{ policyId: profile.id, policyVersion: 1, state: 'failed', errorCode: 'STRONGBOX_UNAVAILABLE', detail: 'StrongBoxUnavailableException' }] });
    expect(res.status).toBe(204);
    const statuses = await t.api.ok('GET', `/devices/${answer.deviceId}/deliveries`);
    expect(statuses).toEqual([expect.objectContaining({ profileId: profile.id, state: 'failed', errorCode: 'STRONGBOX_UNAVAILABLE', detail: 'StrongBoxUnavailableException' })]);

    const next = await agent.fetchPolicy({ conditional: true });
    expect(next.status).toBe(200);
    expect(next.etag).not.toBe(first.etag);
    expect(next.document!.policies[0]!.scep.challenge).not.toBe(challenge);
    // The fresh challenge works.
    expect(await agent.applyPolicy(next.document!)).toHaveLength(1);

    // pending is recorded as such.
    expect((await agent.postStatus({ results: [{ policyId: profile.id, policyVersion: 1, state: 'pending' }] })).status).toBe(204);
    expect((await t.api.ok('GET', `/devices/${answer.deviceId}/deliveries`))[0]).toMatchObject({ state: 'pending' });
  });

  it('a profile core cannot prepare for the device is not in the policy and is shown to the admin as failed', async () => {
    const { agent, answer, profile } = await enrolledAgent();
    const broken = await t.api.ok('POST', '/profiles', { name: 'needs serial', scope: 'device', subjectName: 'CN={{SerialNumber}}' });
    await t.api.ok('POST', '/assignments', { profileId: broken.id, deviceId: answer.deviceId });
    const doc = (await agent.fetchPolicy()).document!;
    expect(doc.policies.map((p) => p.id)).toEqual([profile.id]);
    expect((await agent.fetchPolicy({ conditional: true })).status).toBe(304);
    const statuses = await t.api.ok('GET', `/devices/${answer.deviceId}/deliveries`);
    expect(statuses).toEqual([expect.objectContaining({ profileId: broken.id, state: 'failed', errorCode: 'ATTRIBUTE_MISSING' })]);
    expect(statuses[0].detail).toMatch(/SerialNumber/);
  });

  it('a thumbprint we never issued is recorded but not matched', async () => {
    const { agent, profile, answer } = await enrolledAgent();
    await agent.fetchPolicy();
    const res = await agent.postStatus({ results: [{ policyId: profile.id, policyVersion: 1, state: 'installed', thumbprint: 'AB'.repeat(20), alias: 'mine' }] });
    expect(res.status).toBe(204);
    const [s] = await t.api.ok('GET', `/devices/${answer.deviceId}/deliveries`);
    expect(s).toMatchObject({ state: 'installed', thumbprint: 'AB'.repeat(20), certificateSerial: null });
    expect(s.detail).toMatch(/matches no certificate/);
  });
});

describe('android enrollment failures', () => {
  it('a token works once: the second use is 401 used', async () => {
    const { user } = await userWithGroup();
    const { enrollmentUrl } = await token(user.id);
    const agent = new AndroidAgentSim(t.url);
    await agent.enroll(enrollmentUrl);
    const again = await agent.postEnroll(enrollmentUrl, PIXEL_8);
    expect(again.status).toBe(401);
    expect(await again.json()).toMatchObject({ reason: 'used', error: 'enrollment token used' });
  });

  it('an expired token, a token for another platform and an unknown token are 401 with the reason', async () => {
    const { user } = await userWithGroup();
    const agent = new AndroidAgentSim(t.url);
    const past = new EnrollmentTokens(t.gw.storage, () => new Date(Date.now() - 2 * 24 * 3600_000));
    const expired = await past.create({ platform: 'android', userId: user.id, deviceId: null, ttlMinutes: 60 });
    const r1 = await agent.postEnroll(androidAdapter.enrollmentUrl(expired.token, t.url), PIXEL_8);
    expect(r1.status).toBe(401);
    expect(await r1.json()).toMatchObject({ reason: 'expired' });

    const ios = await token(user.id, 'ios');
    const r2 = await agent.postEnroll(`${t.url}/android/v1/enroll`, PIXEL_8, { token: ios.token });
    expect(r2.status).toBe(401);
    expect(await r2.json()).toMatchObject({ reason: 'wrong-platform' });

    const r3 = await agent.postEnroll(`${t.url}/android/v1/enroll`, PIXEL_8, { token: 'A'.repeat(32) });
    expect(r3.status).toBe(401);
    expect(await r3.json()).toMatchObject({ reason: 'unknown' });
  });

  it('bad device facts are a 400 naming each field, and do not spend the token', async () => {
    const { user } = await userWithGroup();
    const { enrollmentUrl } = await token(user.id);
    const agent = new AndroidAgentSim(t.url);
    const bad = await agent.postEnroll(enrollmentUrl, { ...PIXEL_8, model: undefined, securityPatchLevel: '2024-13-01', strongBox: 'yes', sdkInt: 19, rooted: true });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { issues: { path: string; message: string }[] };
    const paths = body.issues.map((i) => i.path).sort();
    expect(paths).toEqual(['device.model', 'device.rooted', 'device.sdkInt', 'device.securityPatchLevel', 'device.strongBox']);
    expect(body.issues.find((i) => i.path === 'device.securityPatchLevel')!.message).toMatch(/YYYY-MM-DD/);
    expect((await agent.postEnroll(`${t.url}/android/v1/enroll`, PIXEL_8)).status).toBe(400); // no token at all
    // The token is still good.
    await agent.enroll(enrollmentUrl);
    expect(agent.deviceId).toEqual(expect.any(String));
  });

  it('a token made for an existing device enrolls that device', async () => {
    const { user } = await userWithGroup();
    const device = await t.api.ok('POST', '/devices', { name: 'kiosk-7', platform: 'android', userId: user.id });
    const created = await t.api.ok('POST', '/enrollment-tokens', { deviceId: device.id, platform: 'android' });
    const agent = new AndroidAgentSim(t.url);
    const answer = await agent.enroll(created.enrollmentUrl);
    expect(answer.deviceId).toBe(device.id);
    expect((await t.api.ok('GET', `/devices/${device.id}`)).name).toBe('kiosk-7');
  });
});

describe('android check-in and status failures', () => {
  it('a policy fetch or status report without an identity certificate is 401', async () => {
    expect((await fetch(`${t.url}/android/v1/policy`)).status).toBe(401);
    const foreign = await fetch(`${t.url}/android/v1/policy`, { headers: { 'X-Client-Cert': encodeURIComponent(`-----BEGIN CERTIFICATE-----\n${Buffer.from(t.gw.ra.certificate).toString('base64')}\n-----END CERTIFICATE-----`) } });
    expect(foreign.status).toBe(401);
    const status = await fetch(`${t.url}/android/v1/status`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"results":[]}' });
    expect(status.status).toBe(401);
  });

  it('the identity certificate of a device of another platform is 403 on the policy and status routes', async () => {
    const { user, profile } = await enrolledAgent();
    const created = await token(user.id, 'windows');
    const csr = await buildCsr(await generateDeviceKey('RSA', 2048), { subject: 'CN=windows-device' });
    const enrolled = await fetch(`${t.url}/reference/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: created.token, platform: 'windows', name: 'win-1', csr: Buffer.from(csr).toString('base64') }),
    });
    expect(enrolled.status).toBe(201);
    const headers = { 'X-Client-Cert': encodeURIComponent(toPem(Buffer.from(((await enrolled.json()) as { certificate: string }).certificate, 'base64'))) };
    const policy = await fetch(`${t.url}/android/v1/policy`, { headers });
    expect(policy.status).toBe(403);
    const status = await fetch(`${t.url}/android/v1/status`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ results: [{ policyId: profile.id, policyVersion: 1, state: 'pending' }] }),
    });
    expect(status.status).toBe(403);
    expect(await status.json()).toEqual({ error: expect.stringMatching(/not an Android device/) });
  });

  it('a status report for another version than the one served is a 400 naming policyVersion', async () => {
    const { agent, profile, answer } = await enrolledAgent();
    await agent.fetchPolicy();
    for (const policyVersion of [2, 7]) {
      const res = await agent.postStatus({ results: [{ policyId: profile.id, policyVersion, state: 'pending' }] });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { issues: unknown[] }).issues).toEqual([{ path: 'results.0.policyVersion', message: expect.stringMatching(/served/) }]);
    }
    expect(await t.api.ok('GET', `/devices/${answer.deviceId}/deliveries`)).not.toContainEqual(expect.objectContaining({ state: 'pending', profileVersion: 2 }));
    expect((await agent.postStatus({ results: [{ policyId: profile.id, policyVersion: 1, state: 'pending' }] })).status).toBe(204);
  });

  it('a bad status body is a 400 naming the field', async () => {
    const { agent, profile } = await enrolledAgent();
    const doc = (await agent.fetchPolicy()).document!;
    const issues = async (body: unknown) => {
      const res = await agent.postStatus(body);
      expect(res.status).toBe(400);
      return ((await res.json()) as { issues: { path: string; message: string }[] }).issues;
    };
    const base = { policyId: profile.id, policyVersion: 1 };
    expect((await issues({ results: [{ ...base, state: 'failed', errorCode: 'E_NOPE' }] }))[0]).toMatchObject({ path: 'results.0.errorCode', message: expect.stringMatching(/STRONGBOX_UNAVAILABLE/) });
    expect((await issues({ results: [{ ...base, state: 'installed', thumbprint: 'AB'.repeat(20) }] }))[0]).toMatchObject({ path: 'results.0.alias' });
    expect((await issues({ results: [{ ...base, state: 'installed', thumbprint: 'xyz', alias: 'a' }] }))[0]).toMatchObject({ path: 'results.0.thumbprint' });
    expect((await issues({ results: [{ ...base, state: 'exploded' }] }))[0]!.path).toBe('results.0.state');
    expect((await issues({ results: [] }))[0]!.path).toBe('results');
    expect((await issues({ results: [{ ...base, policyId: '00000000-0000-4000-8000-000000000000', state: 'pending' }] }))[0]).toMatchObject({
      path: 'results.0.policyId',
      message: 'is not a policy this device was given',
    });
    // A certificate sent along must have the reported thumbprint.
    const [k] = await agent.applyPolicy(doc);
    expect(
      (await issues({ results: [{ ...base, state: 'installed', thumbprint: 'AB'.repeat(20), alias: k!.alias, certificate: Buffer.from(k!.certificate).toString('base64') }] }))[0],
    ).toMatchObject({ path: 'results.0.thumbprint' });
  });
});

describe('android policy schema versions', () => {
  it('serves v1 by query or Accept parameter, and 406 with the supported list for an unknown version', async () => {
    const { agent } = await enrolledAgent();
    const byQuery = await agent.fetchPolicy({ query: '?schemaVersion=1' });
    expect(byQuery.status).toBe(200);
    expect(byQuery.document!.schemaVersion).toBe(1);
    const byAccept = await agent.fetchPolicy({ accept: 'application/vnd.mdmgw.android-policy+json; schemaVersion=1' });
    expect(byAccept.status).toBe(200);
    expect(byAccept.etag).toBe(byQuery.etag);

    for (const opts of [{ query: '?schemaVersion=2' }, { query: '?schemaVersion=latest' }, { accept: 'application/vnd.mdmgw.android-policy+json; schemaVersion=7' }]) {
      const r = await agent.fetchPolicy(opts);
      expect(r.status).toBe(406);
      expect(r.body).toMatchObject({ supported: [1] });
    }
  });

  it('publishes the JSON Schema', async () => {
    const res = await fetch(`${t.url}/android/v1/schema.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/schema+json');
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(SCHEMAS[1])));
    expect((await fetch(`${t.url}/android/v1/schema.json?schemaVersion=1`)).status).toBe(200);
    const unknown = await fetch(`${t.url}/android/v1/schema.json?schemaVersion=9`);
    expect(unknown.status).toBe(406);
    expect(await unknown.json()).toMatchObject({ supported: [1] });
  });
});

describe('device-reported name and serial (S4)', () => {
  it('an enrollment claiming another device\'s name and serial gets them as flagged reports, never in a certificate', async () => {
    const { user } = await userWithGroup();
    const victim = await t.api.ok('POST', '/devices', { name: `Ada Pixel ${n}`, platform: 'android', serialNumber: `ADA-SN-${n}` });
    const agent = new AndroidAgentSim(t.url);
    const answer = await agent.enroll((await token(user.id)).enrollmentUrl, { ...PIXEL_8, name: victim.name.toUpperCase(), serialNumber: victim.serialNumber });
    const device = await t.api.ok('GET', `/devices/${answer.deviceId}`);
    expect(device).toMatchObject({ name: null, serialNumber: null, reported: { name: victim.name.toUpperCase(), serialNumber: victim.serialNumber, conflicts: ['name', 'serialNumber'] } });
    const conflicts = await t.gw.storage.listAudit({ type: 'device.reported.conflict' });
    expect(conflicts.filter((e) => e.details.deviceId === answer.deviceId).map((e) => e.details.field)).toEqual(['name', 'serialNumber']);

    const profile = await t.api.ok('POST', '/profiles', { name: 'VPN', scope: 'device', subjectName: 'CN={{DeviceName}},SERIALNUMBER={{SerialNumber}},O=Contoso', scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: answer.deviceId });
    const doc = (await agent.fetchPolicy()).document!;
    expect(doc.policies).toEqual([]);
    const [status] = await t.api.ok('GET', `/devices/${answer.deviceId}/deliveries`);
    expect(status).toMatchObject({ profileId: profile.id, state: 'failed', errorCode: 'ATTRIBUTE_MISSING' });
    expect(status.detail).toMatch(/\{\{DeviceName\}\}.*another device's/);
    // The victim's own record is untouched.
    expect(await t.api.ok('GET', `/devices/${victim.id}`)).toMatchObject({ name: victim.name, serialNumber: victim.serialNumber, reported: { conflicts: [] } });
  });

  it('a name only this device reports is used when the admin set none; the admin\'s name wins once set', async () => {
    const { user } = await userWithGroup();
    const agent = new AndroidAgentSim(t.url);
    const answer = await agent.enroll((await token(user.id)).enrollmentUrl, { ...PIXEL_8, name: `Pixel of user ${n}`, serialNumber: `PX-${n}` });
    const profile = await t.api.ok('POST', '/profiles', { name: 'VPN', scope: 'device', subjectName: 'CN={{DeviceName}},SERIALNUMBER={{SerialNumber}},O=Contoso', scepServerUrls: [t.scepUrl] });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: answer.deviceId });
    expect((await agent.fetchPolicy()).document!.policies[0]!.scep.subject).toBe(`CN=Pixel of user ${n},SERIALNUMBER=PX-${n},O=Contoso`);
    await t.api.ok('PATCH', `/devices/${answer.deviceId}`, { name: `kiosk-${n}`, serialNumber: `ASSET-${n}` });
    expect((await agent.fetchPolicy()).document!.policies[0]!.scep.subject).toBe(`CN=kiosk-${n},SERIALNUMBER=ASSET-${n},O=Contoso`);
  });
});
