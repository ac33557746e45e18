import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caDirFor, initCa } from '../../src/ca/ca-setup.js';
import { loadOrCreateChallengeKey } from '../../src/core/challenge/signing-key.js';
import { prepareDeliveries } from '../../src/core/delivery.js';
import { trustForProfile } from '../../src/ca/registry.js';
import { renderWindows } from '../../src/adapters/windows/render.js';
import { caScepUrl } from '../../src/http/scep-routes.js';
import { readCertsOnly } from '../../src/scep/codec/index.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { verifyIssuedBy } from '../../src/x509/certificate-info.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Issue 12 part 4: a Wi-Fi profile issued by the default CA and a VPN profile
// issued by another CA of the data directory (cas/vpn/, `mdmgw ca init
// --name vpn`) chain to different roots; each device payload trusts the root
// of its profile's CA, GetCACert's message= selects a CA, and revocation
// answers per CA.

let dataDir: string;
let t: TestGateway;
let vpnRoot: Uint8Array;
let wifi: { id: string };
let vpn: { id: string };
let device: { id: string };

const certsOf = async (res: Response) => readCertsOnly(new Uint8Array(await res.arrayBuffer()));
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'mdmgw-several-cas-'));
  const r = await initCa(caDirFor(dataDir, 'vpn'), { organization: 'Contoso VPN' });
  vpnRoot = new Uint8Array(new X509Certificate(await readFile(path.join(dataDir, 'cas', 'vpn', 'ca.pem'))).raw);
  expect(r.kind).toBe('root');
  t = await startTestGateway({ dataDir });
  device = await t.api.ok('POST', '/devices', { name: 'laptop-1', platform: 'windows' });
  const base = { scope: 'device', subjectName: 'CN={{DeviceName}},O=Contoso', extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'], keySize: 2048 };
  wifi = await t.api.ok('POST', '/profiles', { ...base, name: 'Wi-Fi' });
  vpn = await t.api.ok('POST', '/profiles', { ...base, name: 'VPN', issuer: 'vpn' });
  for (const p of [wifi, vpn]) await t.api.ok('POST', '/assignments', { profileId: p.id, deviceId: device.id });
}, 120_000);

afterAll(async () => {
  await t?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('several CAs (profile issuer)', () => {
  it('refuses a profile naming a CA the gateway does not have, on create and update (400, issue on "issuer")', async () => {
    const created = await t.api.call('POST', '/profiles', { name: 'x', scope: 'device', subjectName: 'CN=x', issuer: 'nope' });
    expect(created.status).toBe(400);
    expect(created.body.details ?? created.body.issues ?? created.body).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'issuer', message: expect.stringMatching(/no CA named "nope" on this gateway \(known: default, vpn\)/) })]));
    const updated = await t.api.call('PUT', `/profiles/${vpn.id}`, { name: 'VPN', scope: 'device', subjectName: 'CN=x', issuer: 'Not A Name' });
    expect(updated.status).toBe(400);
    expect(JSON.stringify(updated.body)).toMatch(/must be a CA name/);
    expect((await t.api.ok('GET', `/profiles/${vpn.id}`)).issuer).toBe('vpn');
    expect((await t.api.ok('GET', `/profiles/${wifi.id}`)).issuer).toBe('default');
  });

  it('issues each profile from its own CA and records that CA as issuerId', async () => {
    const wifiCert = await enroll(wifi.id);
    // The VPN profile's devices enroll at the VPN CA's own SCEP URL (what its payloads carry).
    const vpnCert = await enroll(vpn.id, `${t.url}/scep/ca/vpn`);
    expect(await verifyIssuedBy(wifiCert, t.gw.authorities.current.certificate)).toBe(true);
    expect(await verifyIssuedBy(vpnCert, vpnRoot)).toBe(true);
    expect(await verifyIssuedBy(vpnCert, t.gw.authorities.current.certificate)).toBe(false);
    const vpnId = t.gw.registry.get('vpn')!.kind === 'local' ? (t.gw.registry.get('vpn') as { authority: { id: string } }).authority.id : '';
    const records = await t.api.ok('GET', `/certificates?deviceId=${device.id}`);
    const byProfile = Object.fromEntries(records.map((c: { profileId: string; issuerId: string }) => [c.profileId, c.issuerId]));
    expect(byProfile[wifi.id]).toBe(t.gw.authorities.current.id);
    expect(byProfile[vpn.id]).toBe(vpnId);

    // Revocation answers per CA: the VPN CA's CRL lists the VPN certificate, the default CA's does not.
    const serial = records.find((c: { profileId: string }) => c.profileId === vpn.id).serialNumber as string;
    expect(serial).toBe(new X509Certificate(vpnCert).serialNumber.toLowerCase());
    await t.api.ok('POST', `/certificates/${serial}/revoke`, { reason: 'keyCompromise' }, 200);
    const vpnCrl = await fetch(`${t.url}/pki/crl/${vpnId}.crl`);
    expect(vpnCrl.status).toBe(200);
    const crlHex = Buffer.from(await vpnCrl.arrayBuffer()).toString('hex');
    expect(crlHex).toContain(serial);
    const defaultCrl = Buffer.from(await (await fetch(`${t.url}/pki/crl/${t.gw.authorities.current.id}.crl`)).arrayBuffer()).toString('hex');
    expect(defaultCrl).not.toContain(serial);
  }, 60_000);

  it("GetCACert's message= selects the CA; with several CAs an unknown name is 404", async () => {
    const plain = await certsOf(await fetch(`${t.scepUrl}?operation=GetCACert`));
    expect(same(plain[1]!, t.gw.authorities.current.certificate)).toBe(true);
    const named = await certsOf(await fetch(`${t.scepUrl}?operation=GetCACert&message=vpn`));
    expect(named).toHaveLength(2);
    expect(same(named[0]!, plain[0]!)).toBe(true); // the one RA
    expect(same(named[1]!, vpnRoot)).toBe(true);
    // The VPN CA's own SCEP URL answers with its chain without a message (Windows and Android clients send none).
    const byPath = await certsOf(await fetch(`${t.url}/scep/ca/vpn?operation=GetCACert`));
    expect(byPath.map((c) => Buffer.from(c).toString('hex'))).toEqual(named.map((c) => Buffer.from(c).toString('hex')));
    expect((await fetch(`${t.url}/scep/ca/nope?operation=GetCACert`)).status).toBe(404);
    const unknown = await fetch(`${t.scepUrl}?operation=GetCACert&message=nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toMatch(/no CA named "nope"/);
  });

  it("every delivery carries its profile's CA root: the Windows payload adds that root", async () => {
    const key = await loadOrCreateChallengeKey(dataDir);
    const dev = (await t.gw.storage.getDevice(device.id))!;
    const deliveries = await prepareDeliveries(
      { storage: t.gw.storage, challengeKey: key.privateKey, ttlSeconds: 60, gatewayScepUrl: t.scepUrl, caCertificatePem: t.gw.rootsPem, trustFor: trustForProfile(t.gw.registry, t.gw.rootsPem, (name) => caScepUrl(t.url, name)) },
      dev,
    );
    const byName = Object.fromEntries(deliveries.map((d) => [d.profile.name, d]));
    const vpnDelivery = byName['VPN']!;
    const wifiDelivery = byName['Wi-Fi']!;
    if (!vpnDelivery.ok || !wifiDelivery.ok) throw new Error('expected both deliveries ready');
    expect(same(new Uint8Array(new X509Certificate(vpnDelivery.trustedRootPem).raw), vpnRoot)).toBe(true);
    expect(wifiDelivery.trustedRootPem).toBe(t.gw.rootsPem);
    expect(vpnDelivery.caName).toBe('vpn');
    expect(vpnDelivery.scepUrl).toBe(`${t.url}/scep/ca/vpn`);
    expect(wifiDelivery.scepUrl).toBe(t.scepUrl);
    const payload = renderWindows(dev, vpnDelivery, { form: 'modern', mode: 'add' });
    const thumb = new X509Certificate(vpnRoot).fingerprint.replace(/:/g, '');
    expect(payload.commands[0]).toMatchObject({ cmd: 'Add', target: `./Device/Vendor/MSFT/RootCATrustedCertificates/Root/${thumb}/EncodedCertificate` });
  });
});

async function enroll(profileId: string, scepUrl = t.scepUrl): Promise<Uint8Array> {
  const challenge = (await t.api.ok('POST', '/challenges', { profileId, deviceId: device.id })).challenge as string;
  const r = await scepEnroll({ scepUrl, challenge, subject: 'CN=laptop-1, O=Contoso', extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'] });
  expect(r.status, r.failInfoText).toBe('SUCCESS');
  return r.certificate!;
}
