import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseProfileSpec } from '../../../src/core/profile/profile-schema.js';
import { testCa } from '../helpers.js';

const minimal = { name: 'Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}},O=Contoso' };

function issuesOf(input: unknown) {
  const r = parseProfileSpec(input);
  if (r.ok) throw new Error('expected issues');
  return r.issues;
}

describe('parseProfileSpec', () => {
  it('fills every default', () => {
    const r = parseProfileSpec(minimal);
    expect(r).toEqual({
      ok: true,
      spec: {
        name: 'Wi-Fi',
        scope: 'device',
        subjectName: 'CN={{DeviceName}},O=Contoso',
        subjectAlternativeNames: [],
        extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'],
        keyUsage: ['digitalSignature', 'keyEncipherment'],
        keySize: 2048,
        hashAlgorithm: 'SHA-256',
        validityDays: 365,
        renewalThresholdPercent: 20,
        keyProtection: 'software',
        keyExportable: false,
        scepServerUrls: [],
        trustedRootCertificate: null,
        requireApproval: false,
        revokeOnRemoval: true,
        issuer: 'default',
        sidExtension: false,
      },
    });
  });

  it('takes a CA name as issuer (whether the gateway has it is the admin route\'s check) and refuses a malformed one', () => {
    const ok = parseProfileSpec({ ...minimal, issuer: 'vpn-2' });
    expect(ok.ok && ok.spec.issuer).toBe('vpn-2');
    for (const bad of ['VPN', '', 'a b', '-vpn', 'x'.repeat(33), 5]) {
      const r = parseProfileSpec({ ...minimal, issuer: bad });
      expect(r.ok, String(bad)).toBe(false);
      if (!r.ok) expect(r.issues[0]!.path).toBe('issuer');
    }
  });

  it('does not share default arrays between results', () => {
    const a = parseProfileSpec(minimal);
    const b = parseProfileSpec(minimal);
    if (!a.ok || !b.ok) throw new Error('unexpected');
    a.spec.extendedKeyUsages.push('1.2.3');
    expect(b.spec.extendedKeyUsages).toEqual(['1.3.6.1.5.5.7.3.2']);
  });

  it('keeps given values', () => {
    const r = parseProfileSpec({
      ...minimal,
      scope: 'user',
      subjectAlternativeNames: [{ type: 'upn', value: '{{UserPrincipalName}}' }],
      keySize: 4096,
      validityDays: 3650,
      renewalThresholdPercent: 99,
      scepServerUrls: ['https://a.example/scep', 'http://b.example/scep'],
      requireApproval: true,
    });
    expect(r.ok && r.spec.keySize).toBe(4096);
    expect(r.ok && r.spec.scepServerUrls).toHaveLength(2);
    expect(r.ok && r.spec.requireApproval).toBe(true);
  });

  it.each([
    [{ name: '' }, 'name'],
    [{ name: 'x'.repeat(201) }, 'name'],
    [{ scope: 'group' }, 'scope'],
    [{ subjectName: '' }, 'subjectName'],
    [{ subjectName: 'CN=a,,O=b' }, 'subjectName'],
    [{ subjectName: 'FOO=bar' }, 'subjectName'],
    [{ subjectAlternativeNames: [{ type: 'ip', value: '1.2.3.4' }] }, 'subjectAlternativeNames.0.type'],
    [{ subjectAlternativeNames: [{ type: 'dns', value: '' }] }, 'subjectAlternativeNames.0.value'],
    [{ extendedKeyUsages: ['clientAuth'] }, 'extendedKeyUsages.0'],
    [{ extendedKeyUsages: ['1.3.6.1.5.5.7.3.2', '1..2'] }, 'extendedKeyUsages.1'],
    [{ keyUsage: ['digitalSignature', 'sign'] }, 'keyUsage.1'],
    [{ keySize: 3072 }, 'keySize'],
    [{ hashAlgorithm: 'MD5' }, 'hashAlgorithm'],
    [{ validityDays: 0 }, 'validityDays'],
    [{ validityDays: 3651 }, 'validityDays'],
    [{ validityDays: 1.5 }, 'validityDays'],
    [{ renewalThresholdPercent: 0 }, 'renewalThresholdPercent'],
    [{ renewalThresholdPercent: 100 }, 'renewalThresholdPercent'],
    [{ keyProtection: 'hsm' }, 'keyProtection'],
    [{ keyExportable: 'yes' }, 'keyExportable'],
    [{ scepServerUrls: ['ftp://x.example/scep'] }, 'scepServerUrls.0'],
    [{ scepServerUrls: ['not a url'] }, 'scepServerUrls.0'],
    [{ scepServerUrls: Array.from({ length: 11 }, (_, i) => `https://s${i}.example/`) }, 'scepServerUrls'],
    [{ trustedRootCertificate: 'hello' }, 'trustedRootCertificate'],
    [{ trustedRootCertificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }, 'trustedRootCertificate'],
    [{ requireApproval: 1 }, 'requireApproval'],
    [{ keysize: 4096 }, 'keysize'],
  ])('%j -> an issue at %s', (patch, path) => {
    const issues = issuesOf({ ...minimal, ...patch });
    expect(issues.map((i) => i.path)).toContain(path);
    expect(issues.every((i) => i.message.length > 0)).toBe(true);
  });

  it('requires name, scope and subjectName', () => {
    expect(issuesOf({}).map((i) => i.path).sort()).toEqual(['name', 'scope', 'subjectName']);
  });

  it('refuses an unknown variable, naming it, at the field that uses it', () => {
    const issues = issuesOf({
      ...minimal,
      subjectName: 'CN={{DeviceNmae}}',
      subjectAlternativeNames: [
        { type: 'dns', value: '{{DeviceName}}.contoso.com' },
        { type: 'email', value: '{{Email}}' },
      ],
    });
    expect(issues).toEqual([
      { path: 'subjectName', message: expect.stringContaining('{{DeviceNmae}}') },
      { path: 'subjectAlternativeNames.1.value', message: expect.stringContaining('{{Email}}') },
    ]);
  });

  it('accepts custom attribute variables and refuses malformed ones', () => {
    expect(parseProfileSpec({ ...minimal, subjectName: 'CN={{user.employeeId}},OU={{device.asset-tag}}' }).ok).toBe(true);
    expect(issuesOf({ ...minimal, subjectName: 'CN={{group.x}}' })[0]?.message).toContain('{{group.x}}');
  });

  it('refuses stray braces', () => {
    expect(issuesOf({ ...minimal, subjectName: 'CN={{DeviceName}' })[0]).toEqual({ path: 'subjectName', message: expect.stringContaining('unbalanced') });
  });

  it('accepts a PEM certificate as trusted root and refuses a private key', async () => {
    const pem = (await testCa()).rootPem;
    const r = parseProfileSpec({ ...minimal, trustedRootCertificate: pem });
    expect(r.ok).toBe(true);
    const keyPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(issuesOf({ ...minimal, trustedRootCertificate: keyPem })[0]?.path).toBe('trustedRootCertificate');
    expect(issuesOf({ ...minimal, trustedRootCertificate: pem + pem })[0]?.message).toContain('exactly one');
  });
});
