import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import forge from 'node-forge';
import { ApnsClient } from '../../../src/adapters/apple/apns-client.js';
import { createAppleAdapter } from '../../../src/adapters/apple/index.js';
import { fromPem, fromPkcs12, PushCertificateError } from '../../../src/adapters/apple/push-certificate.js';
import { applyPushResult } from '../../../src/adapters/apple/pusher.js';
import { newChannel } from '../../../src/adapters/apple/state.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { FakeApns, makeCa, pushCertificate, type Pem } from '../../../src/sim/fake-apns.js';
import { AppleDeviceSim } from '../../../src/sim/apple.js';

// APNs: the HTTP/2 client against a local TLS server that checks the client
// certificate, the per-channel backoff rules, and the push certificate upload.

const TOPIC = 'com.apple.mgmt.External.11111111-2222-4333-8444-555555555555';
let apns: FakeApns;
let push: Pem;

beforeAll(async () => {
  apns = await FakeApns.start();
  push = await pushCertificate(apns.ca, TOPIC);
});
afterAll(async () => {
  await apns?.stop();
});

describe('ApnsClient', () => {
  it('sends an MDM push with the right path, headers and body, reusing one connection', async () => {
    const c = new ApnsClient({ url: apns.url, certPem: push.certPem, keyPem: push.keyPem, ca: apns.ca.certPem });
    const sessions = apns.sessions;
    const start = apns.pushes.length;
    expect(await c.push('ab'.repeat(32), TOPIC, 'MAGIC-1')).toMatchObject({ status: 200 });
    expect(await c.push('cd'.repeat(32), TOPIC, 'MAGIC-2')).toMatchObject({ status: 200 });
    expect(apns.sessions - sessions).toBe(1);
    expect(c.connections).toBe(1);
    const [a, b] = apns.pushes.slice(start);
    expect(a).toMatchObject({ path: `/3/device/${'ab'.repeat(32)}`, body: '{"mdm":"MAGIC-1"}' });
    expect(a!.headers).toMatchObject({ 'apns-topic': TOPIC, 'apns-push-type': 'mdm', ':method': 'POST' });
    expect(a!.clientSubject).toContain(`UID=${TOPIC}`);
    expect(b!.body).toBe('{"mdm":"MAGIC-2"}');
    c.close();
  });

  it('reconnects after GOAWAY', async () => {
    const c = new ApnsClient({ url: apns.url, certPem: push.certPem, keyPem: push.keyPem, ca: apns.ca.certPem });
    const sessions = apns.sessions;
    apns.goawayAfter = apns.pushes.length + 1;
    expect((await c.push('01'.repeat(32), TOPIC, 'M')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect((await c.push('02'.repeat(32), TOPIC, 'M')).status).toBe(200);
    expect(apns.sessions - sessions).toBe(2);
    expect(c.connections).toBe(2);
    c.close();
  });

  it('retries a push refused by a GOAWAY on a fresh connection', async () => {
    const c = new ApnsClient({ url: apns.url, certPem: push.certPem, keyPem: push.keyPem, ca: apns.ca.certPem });
    const sessions = apns.sessions;
    const before = apns.pushes.length;
    apns.goawayOnConnect = true;
    expect((await c.push('03'.repeat(32), TOPIC, 'M')).status).toBe(200);
    expect(apns.sessions - sessions).toBe(2);
    expect(apns.pushes.length - before).toBe(1);
    c.close();
  });

  it('reports APNs errors with their reason', async () => {
    apns.answers.set('0f'.repeat(32), { status: 410, reason: 'Unregistered' });
    const c = new ApnsClient({ url: apns.url, certPem: push.certPem, keyPem: push.keyPem, ca: apns.ca.certPem });
    expect(await c.push('0f'.repeat(32), TOPIC, 'M')).toMatchObject({ status: 410, reason: 'Unregistered' });
    c.close();
  });

  it('is refused by the server without a client certificate it trusts', async () => {
    const otherCa = await makeCa('CN=Not Apple');
    const stranger = await pushCertificate(otherCa, TOPIC);
    const c = new ApnsClient({ url: apns.url, certPem: stranger.certPem, keyPem: stranger.keyPem, ca: apns.ca.certPem, timeoutMs: 2000 });
    const before = apns.pushes.length;
    await expect(c.push('aa'.repeat(32), TOPIC, 'M')).rejects.toThrow();
    expect(apns.pushes.length).toBe(before);
    c.close();
  });
});

describe('push backoff', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  it('stops pushing to a token APNs called unregistered or bad', () => {
    const a = newChannel('aa', 'm', now);
    applyPushResult(a, { status: 410, reason: 'Unregistered' }, now);
    expect(a.push.disabled).toBe('410 Unregistered');
    const b = newChannel('bb', 'm', now);
    applyPushResult(b, { status: 400, reason: 'BadDeviceToken' }, now);
    expect(b.push.disabled).toMatch(/BadDeviceToken/);
  });
  it('backs off exponentially on other failures and resets on success', () => {
    const c = newChannel('cc', 'm', now);
    applyPushResult(c, { status: 400, reason: 'BadTopic' }, now);
    expect(c.push.backoffUntil).toBe('2030-01-01T00:00:30.000Z');
    applyPushResult(c, { status: 503 }, now);
    expect(c.push.backoffUntil).toBe('2030-01-01T00:01:00.000Z');
    for (let i = 0; i < 20; i++) applyPushResult(c, { status: 500 }, now);
    expect(c.push.backoffUntil).toBe('2030-01-02T00:00:00.000Z');
    applyPushResult(c, { status: 200 }, now);
    expect(c.push).toMatchObject({ failures: 0 });
    expect(c.push.backoffUntil).toBeUndefined();
  });
});

describe('push certificate', () => {
  function p12(cert: Pem, password: string): string {
    const asn1 = forge.pkcs12.toPkcs12Asn1(forge.pki.privateKeyFromPem(cert.keyPem), [forge.pki.certificateFromPem(cert.certPem)], password, { algorithm: '3des' });
    return forge.util.encode64(forge.asn1.toDer(asn1).getBytes());
  }
  it('reads PEM and PKCS#12, finds the topic, refuses what is not an MDM push certificate', async () => {
    expect(fromPem(push.certPem, push.keyPem).topic).toBe(TOPIC);
    expect(fromPkcs12(p12(push, 's3cret'), 's3cret')).toMatchObject({ topic: TOPIC });
    expect(() => fromPkcs12(p12(push, 's3cret'), 'wrong')).toThrow(PushCertificateError);
    const notMdm = await pushCertificate(apns.ca, 'com.example.app');
    expect(() => fromPem(notMdm.certPem, notMdm.keyPem)).toThrow(/com.apple.mgmt/);
    const expired = await pushCertificate(apns.ca, TOPIC, new Date(Date.now() - 1000));
    expect(() => fromPem(expired.certPem, expired.keyPem)).toThrow(/expired/);
    try {
      fromPem(push.certPem, 'garbage');
    } catch (e) {
      expect((e as Error).message).not.toContain('garbage');
    }
  });
});

describe('push through the gateway', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway({ adapters: [createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })] });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('uploads PKCS#12, guards a topic change, and stops pushing to an unregistered token until a new TokenUpdate', async () => {
    const forgeP12 = forge.pkcs12.toPkcs12Asn1(forge.pki.privateKeyFromPem(push.keyPem), [forge.pki.certificateFromPem(push.certPem)], 'pw', { algorithm: '3des' });
    const b64 = forge.util.encode64(forge.asn1.toDer(forgeP12).getBytes());
    expect((await t.api.call('PUT', '/apple/push-certificate', { pkcs12: b64, password: 'nope' })).status).toBe(400);
    const up = await t.api.call('PUT', '/apple/push-certificate', { pkcs12: b64, password: 'pw' });
    expect(up.status).toBe(200);
    expect(up.body.topic).toBe(TOPIC);
    // The stored push certificate is sealed: the database alone does not hold the key.
    const stored = await t.gw.storage.getSetting('apple.secret.push-certificate');
    expect(stored).toMatch(/^sealed:v1:/);
    expect(stored).not.toContain('PRIVATE KEY');
    const other = await pushCertificate(apns.ca, 'com.apple.mgmt.External.99999999-2222-4333-8444-555555555555');
    expect((await t.api.call('PUT', '/apple/push-certificate', { certificate: other.certPem, privateKey: other.keyPem })).status).toBe(409);
    expect((await t.api.ok('GET', '/apple/push-certificate')).topic).toBe(TOPIC);

    const u = await t.api.ok('POST', '/users', { userPrincipalName: 'p@contoso.com', email: 'p@contoso.com', displayName: 'P' });
    const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: u.id, platform: 'ios' });
    const sim = new AppleDeviceSim(t.url, 'ios');
    await sim.enroll(tok.enrollmentUrl);
    const deviceId = /CN=([0-9a-f-]{36})/.exec(new (await import('node:crypto')).X509Certificate(sim.identity!.certificate).subject)![1]!;
    await sim.authenticate();
    apns.answers.set(sim.token.toString('hex'), { status: 410, reason: 'Unregistered' });
    await sim.tokenUpdate();
    const first = await t.api.ok('POST', `/apple/devices/${deviceId}/commands`, { kind: 'ProfileList' });
    expect(first.push).toMatchObject({ sent: true, result: { status: 410 } });
    const second = await t.api.ok('POST', `/apple/devices/${deviceId}/commands`, { kind: 'ProfileList' });
    expect(second.push).toMatchObject({ sent: false });
    expect(second.push.why).toMatch(/disabled/);
    const state = await t.api.ok('GET', `/apple/devices/${deviceId}`);
    expect(state.channels.device.pushMagic).toBe('(redacted)');
    expect(JSON.stringify(state)).not.toContain(sim.pushMagic);
    apns.answers.delete(sim.token.toString('hex'));
    await sim.tokenUpdate();
    const third = await t.api.ok('POST', `/apple/devices/${deviceId}/commands`, { kind: 'CertificateList' });
    expect(third.push).toMatchObject({ sent: true, result: { status: 200 } });
    // The device answers the queued commands in order.
    const seen = await sim.drain();
    expect(seen.map((c) => c.Command.RequestType)).toEqual(['ProfileList', 'ProfileList', 'CertificateList']);
  });
});
