import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'plist';
import { describe, expect, it } from 'vitest';
import { enrollmentProfile } from '../../../src/adapters/apple/enrollment-profile.js';
import { toXml } from '../../../src/adapters/apple/plist-codec.js';
import { profileIdentifier, profilePayloadUuids, renderProfile } from '../../../src/adapters/apple/render.js';
import { PEM_DER_CACHE, caFingerprint, keyUsageBits, pemToDer, subjectAltNameDict, subjectArray } from '../../../src/adapters/apple/scep-payload.js';
import { X509Certificate, createHash } from 'node:crypto';
import { uuidV5 } from '../../../src/adapters/apple/uuid.js';
import { describeWithReference } from '../../helpers/reference.js';
import { validateConfigurationProfile } from './apple-schema.js';
import { GOLDEN_CASES, GOLDEN_DIR, ROOT_PEM, iphone, mac } from './fixtures.js';

// Rendering is pure: golden files pin the bytes, and every rendered profile is
// validated against Apple's published schemas (when MDMGW_REFERENCE_DIR has them).

const UPDATE = process.env.UPDATE_GOLDEN === '1';

describe('Apple configuration profile rendering', () => {
  for (const c of GOLDEN_CASES) {
    it(`${c.name} matches its golden file`, () => {
      const xml = toXml(renderProfile(c.device, c.delivery));
      const file = path.join(GOLDEN_DIR, `${c.name}.plist`);
      if (UPDATE) writeFileSync(file, xml);
      expect(existsSync(file), `${file} missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
      expect(xml).toBe(readFileSync(file, 'utf8'));
      // The golden file parses back and carries the delivery's challenge and SCEP URL.
      const back = parse(readFileSync(file, 'utf8')) as any;
      expect(back.PayloadContent[1].PayloadContent).toMatchObject({ Challenge: c.delivery.challenge, URL: c.delivery.scepUrl });
    });
  }

  it('parses a root PEM once for its DER and fingerprint, and hands each caller its own bytes (apple13)', () => {
    const der = new Uint8Array(new X509Certificate(ROOT_PEM).raw);
    const c = GOLDEN_CASES[0]!;
    renderProfile(c.device, c.delivery);
    const kept = PEM_DER_CACHE.get(ROOT_PEM);
    expect(kept?.der).toEqual(der);
    // Rendering again reuses that entry: the same kept object, not a new parse.
    renderProfile(c.device, c.delivery);
    expect(PEM_DER_CACHE.get(ROOT_PEM)).toBe(kept);
    const a = pemToDer(ROOT_PEM);
    a.fill(0);
    expect(pemToDer(ROOT_PEM)).toEqual(der);
    const f = caFingerprint(ROOT_PEM);
    f.fill(0);
    expect(caFingerprint(ROOT_PEM)).toEqual(new Uint8Array(createHash('sha1').update(der).digest()));
    // A PEM that does not parse is refused every time and not kept.
    expect(() => pemToDer('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')).toThrow();
    expect(PEM_DER_CACHE.get('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----')).toBeUndefined();
  });

  it('is deterministic and keeps identifiers stable per profile, UUIDs per version', () => {
    const c = GOLDEN_CASES[0]!;
    expect(toXml(renderProfile(c.device, c.delivery))).toBe(toXml(renderProfile(c.device, c.delivery)));
    const v1 = renderProfile(c.device, c.delivery);
    const v2 = renderProfile(c.device, { ...c.delivery, profile: { ...c.delivery.profile, version: 2 } });
    expect(v2.PayloadIdentifier).toBe(v1.PayloadIdentifier);
    expect(v1.PayloadIdentifier).toBe(profileIdentifier(c.delivery.profile.id));
    expect(v2.PayloadUUID).not.toBe(v1.PayloadUUID);
    expect(v1.PayloadUUID).toBe(profilePayloadUuids(c.delivery.profile.id, 1).profile);
    expect(uuidV5('x')).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
  });

  it('maps the resolved request onto the SCEP payload', () => {
    const [dev, user, ext] = GOLDEN_CASES.map((c) => renderProfile(c.device, c.delivery)) as any[];
    const scep = (p: any) => p.PayloadContent.find((x: any) => x.PayloadType === 'com.apple.security.scep').PayloadContent;
    expect(scep(dev).Subject).toEqual([[['CN', 'Lin iPhone']], [['O', 'Contoso']]]);
    expect(scep(dev)['Key Usage']).toBe(5);
    expect(scep(dev).KeyIsExtractable).toBe(false);
    expect(scep(dev).CAFingerprint).toHaveLength(20);
    expect(scep(dev).SubjectAltName).toEqual({ dNSName: 'lin-iphone.corp.contoso.com' });
    expect(dev.PayloadScope).toBeUndefined();
    expect(user.PayloadScope).toBe('User');
    expect(scep(user).Subject[1]).toEqual([['1.2.840.113549.1.9.1', 'Lin.Chen@contoso.com']]);
    expect(scep(user).SubjectAltName).toEqual({ rfc822Name: ['Lin.Chen@contoso.com', 'lin@contoso.com'], ntPrincipalName: 'lin@contoso.com' });
    expect(scep(user)['Key Usage']).toBe(1);
    expect(scep(ext).KeyIsExtractable).toBe(true);
    expect(scep(ext).Keysize).toBe(4096);
    expect(scep(ext)['Key Usage']).toBe(4);
    expect(scep(ext).CAFingerprint).toBeUndefined(); // an admin-named root may not be what that SCEP server's GetCACert returns
    expect(scep(ext).Retries).toBe(10);
    expect(scep(ext).URL).toBe('https://ndes.contoso.com/certsrv/mscep/mscep.dll');
    expect(renderProfile({ ...mac }, { ...GOLDEN_CASES[0]!.delivery }).PayloadScope).toBe('System');
  });

  it('pure helpers', () => {
    expect(keyUsageBits([])).toBe(0);
    expect(keyUsageBits(['nonRepudiation'])).toBe(0);
    expect(subjectAltNameDict([])).toBeNull();
    expect(subjectArray([{ type: 'uid', value: 'u1' }])).toEqual([[['0.9.2342.19200300.100.1.1', 'u1']]]);
    expect(() => subjectArray([{ type: 'XYZ', value: 'a' }])).toThrow(/no OID/);
  });
});

// The enrollment profile's input, shared by its mapping test and its schema check.
const input = {
  publicUrl: 'https://mdm.contoso.com',
  platform: 'ios' as const,
  deviceId: iphone.id,
  topic: 'com.apple.mgmt.External.2f1c0f3e-8a5b-4c7d-9e0f-1a2b3c4d5e6f',
  identity: { challenge: 'abc', scepUrl: 'https://mdm.contoso.com/certsrv/mscep/mscep.dll', subjectRdns: [{ type: 'CN', value: iphone.id }, { type: 'O', value: 'mdm-gateway device identity' }], keySize: 2048 },
  rootPem: ROOT_PEM,
};

describe('enrollment profile', () => {
  it('points the MDM payload at the SCEP identity', () => {
    const p = enrollmentProfile(input) as any;
    const mdm = p.PayloadContent.find((x: any) => x.PayloadType === 'com.apple.mdm');
    const scep = p.PayloadContent.find((x: any) => x.PayloadType === 'com.apple.security.scep');
    expect(mdm.IdentityCertificateUUID).toBe(scep.PayloadUUID);
    expect(mdm).toMatchObject({ ServerURL: 'https://mdm.contoso.com/mdm/connect', CheckInURL: 'https://mdm.contoso.com/mdm/checkin', SignMessage: true, CheckOutWhenRemoved: true, AccessRights: 3, Topic: input.topic });
    expect(scep.PayloadContent).toMatchObject({ Keysize: 2048, 'Key Type': 'RSA', Challenge: 'abc', Subject: [[['CN', iphone.id]], [['O', 'mdm-gateway device identity']]] });
    expect(p.PayloadScope).toBeUndefined();
    expect((enrollmentProfile({ ...input, platform: 'macos' }) as any).PayloadScope).toBe('System');
  });
});

describeWithReference("rendered and enrollment profiles against Apple's profile schemas (apple/mdm/profiles)", () => {
  for (const c of GOLDEN_CASES) {
    it(`${c.name} validates`, () => {
      expect(validateConfigurationProfile(renderProfile(c.device, c.delivery))).toEqual([]);
    });
  }
  it('the enrollment profile validates, on iOS and on macOS', () => {
    expect(validateConfigurationProfile(enrollmentProfile(input))).toEqual([]);
    expect(validateConfigurationProfile(enrollmentProfile({ ...input, platform: 'macos' }))).toEqual([]);
  });
  it('an http public URL breaks the schema (ServerURL must be https)', () => {
    const errors = validateConfigurationProfile(enrollmentProfile({ ...input, publicUrl: 'http://127.0.0.1:1' }));
    expect(errors).toEqual(expect.arrayContaining([expect.stringMatching(/ServerURL.*does not match/)]));
  });

  describe('the validator catches mistakes', () => {
    const base = () => renderProfile(GOLDEN_CASES[0]!.device, GOLDEN_CASES[0]!.delivery) as any;
    const scepOf = (p: any) => p.PayloadContent[1].PayloadContent;
    it('a misspelt key', () => {
      const p = base();
      scepOf(p).KeySize = 2048;
      expect(validateConfigurationProfile(p)).toEqual([expect.stringMatching(/KeySize: key not in the schema/)]);
    });
    it('a wrong type, a value outside rangelist, a missing required key, an unknown payload type', () => {
      const p = base();
      scepOf(p).Keysize = 3000;
      scepOf(p).KeyIsExtractable = 'no';
      delete scepOf(p).URL;
      p.PayloadContent[0].PayloadContent = 'not data';
      p.PayloadVersion = 2;
      p.PayloadContent.push({ PayloadType: 'com.apple.wifi.managed', PayloadVersion: 1, PayloadIdentifier: 'x', PayloadUUID: 'y' });
      const errors = validateConfigurationProfile(p);
      expect(errors).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/Keysize: 3000 not in/),
          expect.stringMatching(/KeyIsExtractable: expected <boolean>/),
          expect.stringMatching(/URL: required key missing/),
          expect.stringMatching(/PayloadContent\[0\]\.PayloadContent: expected <data>/),
          expect.stringMatching(/\$\.PayloadVersion: 2 not in/),
          expect.stringMatching(/no schema for PayloadType com.apple.wifi.managed/),
        ]),
      );
      expect(errors).toHaveLength(6);
    });
    it('a subject pair with three items', () => {
      const p = base();
      scepOf(p).Subject = [[['CN', 'x', 'y']]];
      expect(validateConfigurationProfile(p)).toEqual([expect.stringMatching(/at most 2 items/)]);
    });
  });
});
