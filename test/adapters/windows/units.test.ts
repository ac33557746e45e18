import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { statusCodeFor } from '../../../src/adapters/windows/command-status.js';
import { pemThumbprint, pemToBase64Der, keyUsageValue, quoteRdnValue, subjectAlternativeNamesValue, subjectNameValue, hashAlgorithmValue, keyProtectionValue } from '../../../src/adapters/windows/csp-values.js';
import { formForOsVersion } from '../../../src/adapters/windows/devinfo.js';
import { formatHresult, hresultMeaning } from '../../../src/adapters/windows/error-codes.js';
import { renewalDue } from '../../../src/adapters/windows/session.js';
import { ESTIMATE_DETAIL, installedValidity } from '../../../src/adapters/windows/renewal.js';
import type { IssuedCertificate } from '../../../src/core/model.js';
import type { TrackedProfile } from '../../../src/adapters/windows/state.js';
import { XmlError, parseXml } from '../../../src/adapters/windows/xml.js';
import { windowsProblem } from '../../../src/adapters/windows/render.js';
import { delivery, ROOT_PEM } from './fixtures.js';
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';

describe('CSP value encodings (clientcertificateinstall-scep.md)', () => {
  it('KeyUsage is the CertEnroll bit value in decimal', () => {
    expect(keyUsageValue(['digitalSignature', 'keyEncipherment'])).toBe(160);
    expect(keyUsageValue(['digitalSignature'])).toBe(128);
    expect(keyUsageValue(['keyEncipherment'])).toBe(32);
    expect(keyUsageValue(['decipherOnly', 'keyAgreement'])).toBe(0x8008);
  });
  it('SAN pairs, HashAlgorithm families, KeyProtection numbers', () => {
    expect(subjectAlternativeNamesValue([{ type: 'upn', value: 'ada@contoso.com' }, { type: 'dns', value: 'host.contoso.com' }])).toBe('11+ada@contoso.com;3+host.contoso.com');
    expect(subjectAlternativeNamesValue([{ type: 'email', value: 'a+b@c.com' }, { type: 'uri', value: 'https://x' }])).toBe('2+a+b@c.com;7+https://x');
    expect(['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'].map((h) => hashAlgorithmValue(h as never))).toEqual(['SHA-1', 'SHA-2', 'SHA-2', 'SHA-2']);
    expect([keyProtectionValue('tpmRequired'), keyProtectionValue('tpmIfPresent'), keyProtectionValue('software')]).toEqual([1, 2, 3]);
  });
  it('SubjectName as CertNameToStr writes it, quoting where needed', () => {
    expect(subjectNameValue([{ type: 'CN', value: 'Ada' }, { type: 'OU', value: 'MDM' }, { type: 'O', value: 'Contoso' }])).toBe('CN=Ada,OU=MDM,O=Contoso');
    expect(subjectNameValue([{ type: 'ST', value: 'Bavaria' }, { type: '2.5.4.97', value: 'x' }])).toBe('S=Bavaria,OID.2.5.4.97=x');
    expect(quoteRdnValue('Smith, Ada')).toBe('"Smith, Ada"');
    expect(quoteRdnValue(' lead')).toBe('" lead"');
    expect(quoteRdnValue('say "hi"; ok')).toBe('"say ""hi""; ok"');
    expect(quoteRdnValue('a=b')).toBe('"a=b"');
    expect(quoteRdnValue('plain')).toBe('plain');
  });
  it('refuses profiles the CSP cannot take', () => {
    const base = { name: 'x', scope: 'device', subjectName: 'CN=x' } as const;
    expect(windowsProblem(delivery('aaaaaaaa-0000-4000-8000-0000000000a1', { ...base, keyUsage: ['nonRepudiation'] }))).toMatch(/KeyUsage/);
    expect(windowsProblem(delivery('aaaaaaaa-0000-4000-8000-0000000000a2', { ...base, extendedKeyUsages: [] }))).toMatch(/EKUMapping/);
    expect(windowsProblem(delivery('aaaaaaaa-0000-4000-8000-0000000000a3', { ...base, subjectAlternativeNames: [{ type: 'dns', value: 'a;b' }] }))).toMatch(/;/);
    expect(windowsProblem(delivery('aaaaaaaa-0000-4000-8000-0000000000a4', base))).toBeNull();
  });
});

describe('CA certificates parsed once (win13)', () => {
  it('gives each PEM its own thumbprint and DER, as a fresh parse does, and still refuses a malformed one', async () => {
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const other = (await x509.X509CertificateGenerator.createSelfSigned({ name: 'CN=Other Root', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, serialNumber: '01' })).toString('pem');
    for (let round = 0; round < 2; round++) {
      for (const pem of [ROOT_PEM, other]) {
        const fresh = new X509Certificate(pem);
        expect(pemThumbprint(pem)).toBe(fresh.fingerprint.replace(/:/g, '').toUpperCase());
        expect(pemToBase64Der(pem)).toBe(fresh.raw.toString('base64'));
      }
    }
    expect(pemThumbprint(ROOT_PEM)).not.toBe(pemThumbprint(other));
    expect(() => pemThumbprint('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')).toThrow();
  });
});

describe('OS version, error codes, renewal', () => {
  it('picks the CertificateStore form for Windows 8.1 and Phone 8.1 only', () => {
    expect(formForOsVersion('6.3.9600.0')).toBe('legacy');
    expect(formForOsVersion('8.10.14219.341')).toBe('legacy');
    expect(formForOsVersion('10.0.22631.1')).toBe('modern');
    expect(formForOsVersion(undefined)).toBe('modern');
  });
  it('formats HRESULTs from signed decimal, unsigned decimal and hex', () => {
    expect(formatHresult('-2147012867')).toBe('0x80072EFD');
    expect(formatHresult('2147942405')).toBe('0x80070005');
    expect(formatHresult('0x800b0109')).toBe('0x800B0109');
    expect(formatHresult('')).toBeUndefined();
    expect(hresultMeaning('0x800B0109')).toMatch(/UNTRUSTEDROOT/);
  });
  it('renews inside the renewal threshold', () => {
    const t = { phase: 'installed', installedAt: '2030-01-01T00:00:00Z', validityDays: 100, renewalThresholdPercent: 20 } as TrackedProfile;
    expect(renewalDue(t, new Date('2030-03-21T00:00:00Z'))).toBe(false); // day 79
    expect(renewalDue(t, new Date('2030-03-22T00:00:00Z'))).toBe(true); // day 80
    expect(renewalDue({ ...t, phase: 'failed' }, new Date('2031-01-01T00:00:00Z'))).toBe(false);
  });
  it('times renewal from the issued certificate when known, not from when the device reported it', () => {
    // Reported installed on 2030-03-01, but the certificate was issued on 2030-01-01 for 100 days.
    const t = {
      phase: 'installed',
      installedAt: '2030-03-01T00:00:00Z',
      validityDays: 100,
      renewalThresholdPercent: 20,
      validity: { notBefore: '2030-01-01T00:00:00Z', notAfter: '2030-04-11T00:00:00Z', source: 'issued' },
    } as TrackedProfile;
    expect(renewalDue(t, new Date('2030-03-21T00:00:00Z'))).toBe(false); // day 79
    expect(renewalDue(t, new Date('2030-03-22T00:00:00Z'))).toBe(true); // day 80, though only 21 days after the report
    // A notAfter cut short (e.g. by the CA's own expiry) brings it forward.
    expect(renewalDue({ ...t, validity: { ...t.validity!, notAfter: '2030-02-20T00:00:00Z' } }, new Date('2030-02-10T00:00:00Z'))).toBe(true);
  });
  it('finds the validity by thumbprint, only for a certificate issued to this device for this profile', async () => {
    const cert = { thumbprint: 'AB'.repeat(20), deviceId: 'dev-1', profileId: 'p-1', notBefore: '2030-01-01T00:00:00.000Z', notAfter: '2030-01-11T00:00:00.000Z' } as IssuedCertificate;
    const asked: string[] = [];
    const s = {
      certificates: {
        byThumbprint: async (x: string) => (asked.push(x), x === cert.thumbprint ? cert : null),
        list: async () => [],
      },
    };
    const at = '2030-01-05T00:00:00.000Z';
    expect(await installedValidity(s, { id: 'dev-1' }, 'p-1', cert.thumbprint, at, 10)).toEqual({ notBefore: cert.notBefore, notAfter: cert.notAfter, source: 'issued' });
    const estimate = { notBefore: at, notAfter: '2030-01-15T00:00:00.000Z', source: 'estimate' };
    expect(await installedValidity(s, { id: 'dev-2' }, 'p-1', cert.thumbprint, at, 10)).toEqual(estimate);
    expect(await installedValidity(s, { id: 'dev-1' }, 'p-2', cert.thumbprint, at, 10)).toEqual(estimate);
    expect(await installedValidity(s, { id: 'dev-1' }, 'p-1', 'CD'.repeat(20), at, 10)).toEqual(estimate);
    expect(asked).toHaveLength(4);
    expect(ESTIMATE_DETAIL).toMatch(/matches no certificate/);
  });
});

describe('XML safety and SyncML statuses', () => {
  it('refuses DTDs and undeclared entities, decodes the predefined ones', () => {
    expect(() => parseXml('<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>')).toThrow(XmlError);
    expect(() => parseXml('<a>&x;</a>')).toThrow(XmlError);
    expect(parseXml('<a b="1&amp;2">&lt;&#65;&#x42;</a>')).toMatchObject({ name: 'a', attrs: { b: '1&2' }, text: '<AB' });
    expect(() => parseXml('<a><b></a>')).toThrow(XmlError);
  });
  it('gives each client command the status the spec names', () => {
    expect(statusCodeFor({ name: 'Alert', cmdId: '1', data: '1201', items: [] })).toBe(200);
    expect(statusCodeFor({ name: 'Alert', cmdId: '1', data: '1226', items: [] })).toBe(200);
    expect(statusCodeFor({ name: 'Alert', cmdId: '1', data: '7', items: [] })).toBe(406);
    expect(statusCodeFor({ name: 'Alert', cmdId: undefined, data: '1201', items: [] })).toBe(400);
    expect(statusCodeFor({ name: 'Blah', cmdId: '2', items: [] })).toBe(400);
    expect(statusCodeFor({ name: 'Exec', cmdId: '2', items: [] })).toBe(501);
    expect(statusCodeFor({ name: 'Replace', cmdId: '2', items: [] })).toBe(400);
    expect(statusCodeFor({ name: 'Status', cmdId: '2', items: [] })).toBeNull();
  });
});
