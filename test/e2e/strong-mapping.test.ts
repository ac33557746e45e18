import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCertificate, securityIdentifierOf } from '../../src/x509/cert-raw.js';
import * as x509 from '@peculiar/x509';
import { ntdsCaSecurity } from '../../src/ca/certificate-builder.js';
import { generateDeviceKey, scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Microsoft's strong certificate mapping (KB5014754, docs/strong-mapping.md)
// end to end: the SID comes from the directory attribute ObjectSid of the
// target, the challenge binds it, the CRP checks the SID URI like every SAN,
// and the CA writes the NTDS CA security extension from the resolved request.

const SID = 'S-1-5-21-1608104657-630783805-1473387121-1000';
const OTHER_SID = 'S-1-5-21-1608104657-630783805-1473387121-500';
const SID_URI = `tag:microsoft.com,2022-09-14:sid:${SID}`;
// The extension value AD CS wrote for this SID on a DC certificate (captured
// from a real Enterprise CA; the same bytes [MS-WCCE] 2.2.2.7.7.4 describes).
const AD_CS_EXTENSION_HEX =
  '303fa03d060a2b060104018237190201a02f042d532d312d352d32312d31363038' + '3130343635372d3633303738333830352d313437333338373132312d31303030';

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t.stop();
});

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function userWithLaptop(attributes: Record<string, string>, upn: string) {
  const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: upn, attributes });
  const device = await t.api.ok('POST', '/devices', { name: `pc-${upn.split('@')[0]}`, platform: 'windows', userId: user.id });
  return { user, device };
}

async function sidProfile(name: string, scope: 'user' | 'device' = 'user') {
  return t.api.ok('POST', '/profiles', {
    name,
    scope,
    subjectName: scope === 'user' ? 'CN={{UserPrincipalName}}' : 'CN={{DeviceName}}',
    subjectAlternativeNames: [...(scope === 'user' ? [{ type: 'upn', value: '{{UserPrincipalName}}' }] : []), { type: 'sid-url' }],
    sidExtension: true,
  });
}

describe('strong certificate mapping', () => {
  it('a user certificate carries the SID URI and the NTDS CA security extension with the exact AD CS DER', async () => {
    const { user, device } = await userWithLaptop({ ObjectSid: SID }, 'ann@corp.example');
    const profile = await sidProfile('nps-wifi');
    expect(profile.sidExtension).toBe(true);
    expect(profile.subjectAlternativeNames).toEqual([{ type: 'upn', value: '{{UserPrincipalName}}' }, { type: 'sid-url', value: '' }]);
    await t.api.ok('POST', '/assignments', { profileId: profile.id, userId: user.id });
    const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });

    const r = await scepEnroll({ scepUrl: t.scepUrl, challenge, subject: 'CN=ann@corp.example', sans: [{ type: 'upn', value: 'ann@corp.example' }, { type: 'uri', value: SID_URI }] });
    expect(r.failInfoText).toBeUndefined();
    expect(r.status).toBe('SUCCESS');
    const der = r.certificate!;

    const raw = readCertificate(der);
    const ext = raw.extensions.get('1.3.6.1.4.1.311.25.2');
    expect(ext?.critical).toBe(false);
    expect(Buffer.from(ext!.value).toString('hex')).toBe(AD_CS_EXTENSION_HEX);
    expect(securityIdentifierOf(raw)).toBe(SID);
    // node escapes the comma of the tag URI in its text form.
    expect(new X509Certificate(der).subjectAltName).toContain(`2022-09-14:sid:${SID}`);

    if (!hasOpenssl()) return console.warn('openssl not installed: skipping the openssl parse-back');
    const dir = mkdtempSync(join(tmpdir(), 'sid-'));
    const file = join(dir, 'c.der');
    writeFileSync(file, der);
    const text = execFileSync('openssl', ['x509', '-inform', 'DER', '-in', file, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toContain('1.3.6.1.4.1.311.25.2:');
    expect(text).toContain(`URI:${SID_URI}`);
    // openssl asn1parse of the extension value: the otherName OID and the SID as an OCTET STRING.
    writeFileSync(join(dir, 'ext.der'), ext!.value);
    const parsed = execFileSync('openssl', ['asn1parse', '-inform', 'DER', '-in', join(dir, 'ext.der'), '-i'], { encoding: 'utf8' });
    expect(parsed).toMatch(/OBJECT\s+:1\.3\.6\.1\.4\.1\.311\.25\.2\.1/);
    expect(parsed).toMatch(/OCTET STRING\s+:S-1-5-21-1608104657-630783805-1473387121-1000/);
  });

  it('a device-scope profile takes the device ObjectSid', async () => {
    const device = await t.api.ok('POST', '/devices', { name: 'kiosk-sid', platform: 'windows', attributes: { ObjectSid: OTHER_SID } });
    const profile = await sidProfile('device-sid', 'device');
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    const r = await scepEnroll({ scepUrl: t.scepUrl, challenge, subject: 'CN=kiosk-sid', sans: [{ type: 'uri', value: `tag:microsoft.com,2022-09-14:sid:${OTHER_SID}` }] });
    expect(r.status).toBe('SUCCESS');
    expect(securityIdentifierOf(readCertificate(r.certificate!))).toBe(OTHER_SID);
  });

  it("a CSR naming another account's SID URI is refused by the CRP (SAN_MISMATCH naming it)", async () => {
    const { user, device } = await userWithLaptop({ ObjectSid: SID }, 'ben@corp.example');
    const profile = await sidProfile('nps-wifi-2');
    await t.api.ok('POST', '/assignments', { profileId: profile.id, userId: user.id });
    const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    const forged = `tag:microsoft.com,2022-09-14:sid:${OTHER_SID}`;
    const r = await scepEnroll({ scepUrl: t.scepUrl, challenge, subject: 'CN=ben@corp.example', sans: [{ type: 'upn', value: 'ben@corp.example' }, { type: 'uri', value: forged }] });
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toMatch(/SAN_MISMATCH/);
    expect(r.failInfo).toBe('badRequest');
    const timeline = await t.api.ok('GET', `/enrollments/${r.transactionId}`);
    const refusal = timeline.timeline.find((e: { reasonCode: string }) => e.reasonCode === 'SAN_MISMATCH');
    expect(refusal.details.detail).toBe(`not in the profile: uri:${forged}`);
    expect(refusal.details.expected).toContain(`uri:${SID_URI}`);
  });

  it('the challenge binds the SID: a challenge minted before the ObjectSid changed is refused (REQUEST_CHANGED)', async () => {
    const { user, device } = await userWithLaptop({ ObjectSid: SID }, 'fay@corp.example');
    const profile = await sidProfile('nps-wifi-5');
    await t.api.ok('POST', '/assignments', { profileId: profile.id, userId: user.id });
    const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    await t.api.ok('PATCH', `/users/${user.id}`, { attributes: { ObjectSid: OTHER_SID } });
    const r = await scepEnroll({ scepUrl: t.scepUrl, challenge, subject: 'CN=fay@corp.example', sans: [{ type: 'upn', value: 'fay@corp.example' }, { type: 'uri', value: SID_URI }] });
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toMatch(/REQUEST_CHANGED/);
  });

  it("a CSR asking for another account's SID in the security extension still gets the directory's SID (the CA never copies it)", async () => {
    const { user, device } = await userWithLaptop({ ObjectSid: SID }, 'gus@corp.example');
    const profile = await t.api.ok('POST', '/profiles', { name: 'ext-only-2', scope: 'user', subjectName: 'CN={{UserPrincipalName}}', sidExtension: true });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, userId: user.id });
    const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    const key = await generateDeviceKey();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=gus@corp.example',
      keys: key.keys,
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      extensions: [new x509.Extension('1.3.6.1.4.1.311.25.2', false, ntdsCaSecurity(OTHER_SID).value)],
      attributes: [new x509.ChallengePasswordAttribute(challenge)],
    });
    const r = await scepEnroll({ scepUrl: t.scepUrl, challenge, subject: 'CN=gus@corp.example', key, csrOverride: new Uint8Array(csr.rawData) });
    expect(r.failInfoText).toBeUndefined();
    expect(r.status).toBe('SUCCESS');
    expect(securityIdentifierOf(readCertificate(r.certificate!))).toBe(SID);
  });

  it('a CSR without the SID URI is refused (SAN_MISSING)', async () => {
    const { user, device } = await userWithLaptop({ ObjectSid: SID }, 'cid@corp.example');
    const profile = await sidProfile('nps-wifi-3');
    await t.api.ok('POST', '/assignments', { profileId: profile.id, userId: user.id });
    const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    const r = await scepEnroll({ scepUrl: t.scepUrl, challenge, subject: 'CN=cid@corp.example', sans: [{ type: 'upn', value: 'cid@corp.example' }] });
    expect(r.status).toBe('FAILURE');
    expect(r.failInfoText).toMatch(/SAN_MISSING/);
  });

  it('a user without ObjectSid gets no challenge and a delivery error naming the attribute', async () => {
    const { user, device } = await userWithLaptop({}, 'dan@corp.example');
    const profile = await t.api.ok('POST', '/profiles', { name: 'ext-only', scope: 'user', subjectName: 'CN={{UserPrincipalName}}', sidExtension: true });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, userId: user.id });
    const refused = await t.api.call('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe('sidExtension: the target has no value for {{user.ObjectSid}}');
  });

  it('a malformed ObjectSid is refused when written (400) and, if stored anyway, at challenge minting', async () => {
    const bad = await t.api.call('POST', '/users', { userPrincipalName: 'eve@corp.example', email: 'eve@corp.example', displayName: 'Eve', attributes: { ObjectSid: 'S-1-5-21-x' } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('ObjectSid');
    const { user, device } = await userWithLaptop({}, 'eve@corp.example');
    // Synced data is not validated by the API: the store takes it as is.
    await t.gw.storage.updateUser(user.id, { attributes: { ObjectSid: 'S-1-5-21-x' } }, new Date().toISOString(), 'affiliationChanged');
    const profile = await sidProfile('nps-wifi-4');
    await t.api.ok('POST', '/assignments', { profileId: profile.id, userId: user.id });
    const refused = await t.api.call('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatch(/^subjectAlternativeNames\.1: the target's \{\{user\.ObjectSid\}\} is not a SID/);
  });

  it('profile validation: sid-url takes no value; sidExtension is a boolean', async () => {
    const r = await t.api.call('POST', '/profiles', { name: 'x', scope: 'user', subjectName: 'CN=x', subjectAlternativeNames: [{ type: 'sid-url', value: 'S-1-5-21-1-2' }], sidExtension: 'yes' });
    expect(r.status).toBe(400);
    const paths = (r.body.issues as { path: string }[]).map((i) => i.path).sort();
    expect(paths).toEqual(['sidExtension', 'subjectAlternativeNames.0.value']);
  });
});
