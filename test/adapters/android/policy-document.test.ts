import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { androidAdapter } from '../../../src/adapters/android/index.js';
import { SCHEMAS } from '../../../src/adapters/android/versions.js';
import { policyContentV1, policyDocumentV1, renderCertificatePolicy } from '../../../src/adapters/android/render.js';
import { device, deviceVpn, GOLDEN_ROOT_PEM, userWifi } from './fixtures.js';
import { schemaErrors } from './schema-validator.js';

// Golden files: rendered policies compared byte for byte with
// test/golden/android/*.json (reviewed by hand against the Android notes).
// UPDATE_GOLDEN=1 rewrites them; review the diff before keeping it.

const goldenDir = path.resolve(import.meta.dirname, '../../golden/android');

function golden(name: string, value: unknown) {
  const file = path.join(goldenDir, name);
  const text = `${JSON.stringify(value, null, 2)}\n`;
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== '1') throw new Error(`golden file ${name} is missing; run with UPDATE_GOLDEN=1 and review it`);
    writeFileSync(file, text);
  }
  expect(text).toBe(readFileSync(file, 'utf8'));
}

describe('android policy document (golden)', () => {
  it('renders a user-scope Wi-Fi certificate policy', () => {
    const p = androidAdapter.render(device, userWifi);
    expect(schemaErrors(policyDocumentV1(policyContentV1(device, [p]), '2026-03-01T09:00:00.000Z'))).toEqual([]);
    golden('user-wifi.json', p);
  });

  it('renders a hardware-bound device VPN policy: non-exportable whatever the profile says, X500Principal subject', () => {
    const p = renderCertificatePolicy(deviceVpn, { action: 'enroll' });
    expect(p.keyStore.requireHardwareBacked).toBe(true);
    expect(p.keyStore.exportable).toBe(false);
    expect(p.scep.subject).toBe('CN=Google Pixel 8,OU=Mobile\\, EMEA,O=Contoso,EMAILADDRESS=mobile@contoso.com');
    expect(p.scep).toMatchObject({ retries: 48, retryDelaySeconds: 300, hashAlgorithm: 'SHA-384', keySize: 4096 });
    expect(p.keyStore.digests).toEqual(['SHA-256', 'SHA-384']);
    expect(p.keyStore.purposes).toEqual(['PURPOSE_SIGN']);
    expect(p.keyStore.encryptionPaddings).toEqual([]);
    expect(schemaErrors(policyDocumentV1(policyContentV1(device, [p]), '2026-03-01T09:00:00.000Z'))).toEqual([]);
    golden('device-vpn-hardware.json', p);
  });

  it('renders a whole document: one policy to keep (no challenge), one to enroll, sorted by id', () => {
    const keep = renderCertificatePolicy(userWifi, { action: 'keep' });
    const enroll = renderCertificatePolicy(deviceVpn, {
      action: 'renew',
      challenge: { value: 'AQStoredChallenge', expiresAt: new Date('2026-03-02T11:00:00.000Z'), scepUrl: 'https://ndes2.contoso.com/certsrv/mscep/mscep.dll' },
    });
    expect(keep.scep.challenge).toBeNull();
    expect(keep.scep.challengeExpiresAt).toBeNull();
    expect(enroll.scep).toMatchObject({ challenge: 'AQStoredChallenge', url: 'https://ndes2.contoso.com/certsrv/mscep/mscep.dll' });
    const doc = policyDocumentV1(policyContentV1(device, [enroll, keep]), '2026-03-01T09:00:00.000Z');
    expect(doc.policies.map((p) => p.id)).toEqual([userWifi.profile.id, deviceVpn.profile.id]);
    expect(schemaErrors(doc)).toEqual([]);
    golden('document-keep-and-renew.json', doc);
  });

  it('carries the trusted root as DER and its SHA-256 as caFingerprint', () => {
    const p = renderCertificatePolicy(userWifi, { action: 'enroll' });
    const root = new X509Certificate(GOLDEN_ROOT_PEM);
    expect(p.trustedRoots).toEqual([root.raw.toString('base64')]);
    expect(p.scep.caFingerprint).toBe(root.fingerprint256.replace(/:/g, '').toLowerCase());
    expect(p.keyStore.alias).toBe(`mdmgw-${userWifi.profile.id}`);
    expect(p.keyStore.purposes).toEqual(['PURPOSE_SIGN', 'PURPOSE_DECRYPT']);
  });

  it('is pure: the same delivery renders the same bytes', () => {
    expect(JSON.stringify(androidAdapter.render(device, userWifi))).toBe(JSON.stringify(androidAdapter.render(device, structuredClone(userWifi))));
  });
});

describe('the published JSON Schema rejects what an agent must not get', () => {
  const doc = () => policyDocumentV1(policyContentV1(device, [renderCertificatePolicy(deviceVpn, { action: 'enroll' })]), '2026-03-01T09:00:00.000Z');

  it('a keep policy with a challenge', () => {
    const d = doc();
    d.policies[0]!.action = 'keep';
    expect(schemaErrors(d).join('\n')).toMatch(/challenge/);
  });

  it('an enroll policy without a challenge', () => {
    const d = doc();
    d.policies[0]!.scep.challenge = null;
    expect(schemaErrors(d)).not.toEqual([]);
  });

  it('a hardware-backed key marked exportable', () => {
    const d = doc();
    d.policies[0]!.keyStore.exportable = true;
    expect(schemaErrors(d).join('\n')).toMatch(/keyStore\/exportable/);
  });

  it('unknown members, a wrong schemaVersion, a bad fingerprint', () => {
    expect(schemaErrors({ ...doc(), extra: 1 })).not.toEqual([]);
    expect(schemaErrors({ ...doc(), schemaVersion: 2 })).not.toEqual([]);
    const d = doc();
    d.policies[0]!.scep.caFingerprint = 'AB:CD';
    expect(schemaErrors(d).join('\n')).toMatch(/caFingerprint/);
  });

  it('docs/android-policy.schema.json is the schema the gateway serves', () => {
    const docs = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../../docs/android-policy.schema.json'), 'utf8'));
    expect(docs).toEqual(JSON.parse(JSON.stringify(SCHEMAS[1])));
  });
});

