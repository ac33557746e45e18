import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { mintChallenge } from '../../../src/core/challenge/token.js';
import { CertificateRegistrationPoint, CHECKS } from '../../../src/core/crp/index.js';
import { checkSubject } from '../../../src/core/crp/subject.js';
import type { CsrInfo } from '../../../src/core/csr-info.js';
import type { PolicyDecision } from '../../../src/core/policy-module.js';
import { identityRequest } from '../../../src/core/profile/resolve.js';
import type { ReasonCode } from '../../../src/core/reasons.js';
import { csrMatching, pkcsReq } from '../helpers.js';
import { makeWorld, mint, resolved, spend, type World } from '../world.js';

let w: World;
beforeEach(async () => {
  w = await makeWorld();
});

const deviceTarget = () => ({ kind: 'device' as const, deviceId: w.laptop.id });
const userTarget = () => ({ kind: 'user' as const, userId: w.alice.id, deviceId: w.laptop.id });

/** A matching CSR for the laptop's device profile, with a fresh challenge; `patch` breaks something. */
function deviceCsr(patch: Partial<CsrInfo> = {}) {
  const r = resolved(w, w.devProfile, deviceTarget());
  const m = mint(w, r);
  return { r, m, csr: csrMatching(r, m.token, patch) };
}

function refusalOf(d: PolicyDecision) {
  if (d.allow) throw new Error('expected a refusal, got an approval');
  return d.refusal;
}

async function expectRefused(csr: CsrInfo, code: ReasonCode) {
  const refusal = refusalOf(await w.crp.evaluate(pkcsReq(csr)));
  expect(refusal.code).toBe(code);
  // A refusal goes to the audit log: it must never carry the challenge.
  if (csr.challengePassword) expect(JSON.stringify(refusal)).not.toContain(csr.challengePassword);
  return refusal;
}

describe('the CHECKS table', () => {
  it('lists the PKCSReq and RenewalReq checks in the documented order', () => {
    expect(CHECKS.PKCSReq.map((c) => c.name)).toEqual([
      'challengePresent',
      'challengeWellFormed',
      'challengeSignature',
      'challengeNotExpired',
      'challengeUnused',
      'profileExists',
      'targetExists',
      'deviceNotBlocked',
      'profileAssigned',
      'requestUnchanged',
      'csrSignature',
      'subject',
      'subjectAltNames',
      'keyUsage',
      'extendedKeyUsage',
      'keyAlgorithmAndSize',
    ]);
    expect(CHECKS.RenewalReq.map((c) => c.name)).toEqual([
      'renewalSignerIssuedByUs',
      'renewalSignerNotExpired',
      'renewalSignerNotRevoked',
      'profileExists',
      'targetExists',
      'deviceNotBlocked',
      'profileAssigned',
      'renewalRequestResolves',
      'csrSignature',
      'renewalSubjectUnchanged',
      'subjectAltNames',
      'keyUsage',
      'extendedKeyUsage',
      'keyAlgorithmAndSize',
    ]);
  });
});

describe('PKCSReq: approvals', () => {
  it('approves a device-scope profile delivered through a device group', async () => {
    const { r, m, csr } = deviceCsr();
    const d = await w.crp.evaluate(pkcsReq(csr));
    expect(d).toEqual({
      allow: true,
      approval: { kind: 'profile', resolved: r, challenge: { id: m.id, expiresAt: m.expiresAt.toISOString() }, requireApproval: false, renewalOf: null },
    });
    expect(r.subject).toEqual([
      { type: 'CN', value: 'LAPTOP-1' },
      { type: 'OU', value: 'SN-1' },
      { type: 'O', value: 'Contoso' },
    ]);
  });

  it('approves a user-scope profile assigned to the primary user', async () => {
    const r = resolved(w, w.userProfile, userTarget());
    const m = mint(w, r);
    const d = await w.crp.evaluate(pkcsReq(csrMatching(r, m.token)));
    expect(d.allow && d.approval).toMatchObject({ kind: 'profile', resolved: { target: userTarget(), profileId: w.userProfile.id } });
  });

  it('approves a user certificate for a user without a device', async () => {
    const r = resolved(w, w.userProfile, { kind: 'user', userId: w.alice.id, deviceId: null });
    const d = await w.crp.evaluate(pkcsReq(csrMatching(r, mint(w, r).token)));
    expect(d.allow).toBe(true);
  });

  it('approves a device profile assigned only through the primary user', async () => {
    const p = await w.storage.createProfile({ ...w.devProfile, name: 'via user' });
    await w.storage.createAssignment(p.id, { groupId: w.staff.id });
    const r = resolved(w, p, deviceTarget());
    const d = await w.crp.evaluate(pkcsReq(csrMatching(r, mint(w, r).token)));
    expect(d.allow).toBe(true);
  });

  it('approves the device identity certificate without any profile or assignment', async () => {
    const r = identityRequest(w.kiosk);
    const m = mint(w, r, { kind: 'identity' });
    const d = await w.crp.evaluate(pkcsReq(csrMatching(r, m.token)));
    expect(d).toEqual({
      allow: true,
      approval: { kind: 'identity', resolved: r, challenge: { id: m.id, expiresAt: m.expiresAt.toISOString() }, requireApproval: false, renewalOf: null },
    });
  });

  it("carries the profile's requireApproval", async () => {
    const p = await w.storage.updateProfile(w.devProfile.id, { ...w.devProfile, requireApproval: true });
    const r = resolved(w, p!, deviceTarget());
    const d = await w.crp.evaluate(pkcsReq(csrMatching(r, mint(w, r).token)));
    expect(d.allow && d.approval.requireApproval).toBe(true);
  });

  it('accepts subject attributes in another order and spelling, SANs in another case, no extension request, a bigger key', async () => {
    const { csr } = deviceCsr();
    csr.subject = [
      { type: '2.5.4.10', value: 'Contoso' },
      { type: 'cn', value: 'LAPTOP-1' },
      { type: 'OU', value: 'SN-1' },
    ];
    csr.subjectAltNames = [{ type: 'dns', value: 'laptop-1.CORP.contoso.com' }];
    csr.keyUsage = null;
    csr.extendedKeyUsages = null;
    csr.publicKey = { ...csr.publicKey, bits: 4096 };
    expect((await w.crp.evaluate(pkcsReq(csr))).allow).toBe(true);
  });

  it('accepts EC P-256 and P-384 keys for a 2048 profile', async () => {
    for (const bits of [256, 384]) {
      const { csr } = deviceCsr({ publicKey: { algorithm: 'EC', bits, spki: new Uint8Array(1) } });
      expect((await w.crp.evaluate(pkcsReq(csr))).allow, `P-${bits}`).toBe(true);
    }
  });

  it('accepts a CSR asking for a subset of the key usages', async () => {
    const { csr } = deviceCsr({ keyUsage: ['digitalSignature'], extendedKeyUsages: [] });
    expect((await w.crp.evaluate(pkcsReq(csr))).allow).toBe(true);
  });
});

describe('PKCSReq: each refusal', () => {
  it('CHALLENGE_MISSING: no challengePassword, or an empty one', async () => {
    await expectRefused(deviceCsr({ challengePassword: null }).csr, 'CHALLENGE_MISSING');
    await expectRefused(deviceCsr({ challengePassword: '' }).csr, 'CHALLENGE_MISSING');
  });

  it('CHALLENGE_MALFORMED: a static password or a truncated token', async () => {
    await expectRefused(deviceCsr({ challengePassword: 'ndes-static-password' }).csr, 'CHALLENGE_MALFORMED');
    const { m } = deviceCsr();
    await expectRefused(deviceCsr({ challengePassword: m.token.slice(0, 100) }).csr, 'CHALLENGE_MALFORMED');
  });

  it('CHALLENGE_BAD_SIGNATURE: minted with another key', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const other = mintChallenge(generateKeyPairSync('ed25519').privateKey, { kind: 'profile', resolved: r, ttlSeconds: 3600, now: w.now });
    await expectRefused(csrMatching(r, other.token), 'CHALLENGE_BAD_SIGNATURE');
  });

  it('CHALLENGE_EXPIRED: at the expiry second, not one second before', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const m = mint(w, r, { ttlSeconds: 60, now: new Date(w.now.getTime() - 60_000) });
    const refusal = await expectRefused(csrMatching(r, m.token), 'CHALLENGE_EXPIRED');
    expect(refusal.received).toBe(w.now.toISOString());
    const fresh = mint(w, r, { ttlSeconds: 61, now: new Date(w.now.getTime() - 60_000) });
    expect((await w.crp.evaluate(pkcsReq(csrMatching(r, fresh.token)))).allow).toBe(true);
  });

  it('CHALLENGE_ALREADY_USED: spent by an earlier enrollment', async () => {
    const { r, m, csr } = deviceCsr();
    expect(await spend(w, m, r)).toEqual({ ok: true });
    await expectRefused(csr, 'CHALLENGE_ALREADY_USED');
  });

  it('PROFILE_UNKNOWN: the profile was deleted', async () => {
    const { csr } = deviceCsr();
    await w.storage.deleteProfile(w.devProfile.id);
    await expectRefused(csr, 'PROFILE_UNKNOWN');
  });

  it('PROFILE_UNKNOWN: the challenge names a version that does not exist', async () => {
    const r = { ...resolved(w, w.devProfile, deviceTarget()), profileVersion: 7 };
    const refusal = await expectRefused(csrMatching(r, mint(w, r).token), 'PROFILE_UNKNOWN');
    expect(refusal.received).toBe(7);
  });

  it('TARGET_UNKNOWN: the device does not exist', async () => {
    const r = { ...resolved(w, w.devProfile, deviceTarget()), target: { kind: 'device' as const, deviceId: randomUUID() } };
    await expectRefused(csrMatching(r, mint(w, r).token), 'TARGET_UNKNOWN');
  });

  it('TARGET_UNKNOWN: the user does not exist', async () => {
    const r = { ...resolved(w, w.userProfile, userTarget()), target: { kind: 'user' as const, userId: randomUUID(), deviceId: null } };
    await expectRefused(csrMatching(r, mint(w, r).token), 'TARGET_UNKNOWN');
  });

  it("TARGET_PRIMARY_USER_CHANGED: the device now belongs to someone else", async () => {
    const r = resolved(w, w.userProfile, userTarget());
    const m = mint(w, r);
    await w.storage.updateDevice(w.laptop.id, { userId: w.bob.id });
    const refusal = await expectRefused(csrMatching(r, m.token), 'TARGET_PRIMARY_USER_CHANGED');
    expect(refusal).toMatchObject({ expected: w.alice.id, received: w.bob.id });
  });

  it("DEVICE_BLOCKED: the device was blocked after minting (a user's certificate on it too; identity too)", async () => {
    const dev = resolved(w, w.devProfile, deviceTarget());
    const usr = resolved(w, w.userProfile, userTarget());
    const id = identityRequest(w.laptop);
    const tokens = [mint(w, dev), mint(w, usr), mint(w, id, { kind: 'identity' })];
    expect((await w.storage.blockDevice(w.laptop.id, w.now.toISOString(), 'cessationOfOperation')).ok).toBe(true);
    for (const [r, m] of [[dev, tokens[0]!], [usr, tokens[1]!], [id, tokens[2]!]] as const) {
      const refusal = await expectRefused(csrMatching(r, m.token), 'DEVICE_BLOCKED');
      expect(refusal.detail).toContain(w.laptop.id);
    }
    await w.storage.unblockDevice(w.laptop.id);
    expect((await w.crp.evaluate(pkcsReq(csrMatching(dev, tokens[0]!.token)))).allow).toBe(true);
  });

  it('PROFILE_NOT_ASSIGNED: the assignment was removed after minting', async () => {
    const { csr } = deviceCsr();
    for (const a of await w.storage.listAssignments({ profileId: w.devProfile.id })) await w.storage.deleteAssignment(a.id);
    await expectRefused(csr, 'PROFILE_NOT_ASSIGNED');
  });

  it('PROFILE_NOT_ASSIGNED: the device left the group', async () => {
    const { csr } = deviceCsr();
    await w.storage.removeGroupMember(w.laptops.id, { deviceId: w.laptop.id });
    await expectRefused(csr, 'PROFILE_NOT_ASSIGNED');
  });

  it('REQUEST_CHANGED: the profile got a new version', async () => {
    const { csr } = deviceCsr();
    await w.storage.updateProfile(w.devProfile.id, { ...w.devProfile, validityDays: 30 });
    const refusal = await expectRefused(csr, 'REQUEST_CHANGED');
    expect(refusal.detail).toContain('version 1 to 2');
  });

  it('REQUEST_CHANGED: a directory attribute the profile uses changed', async () => {
    const { csr } = deviceCsr();
    await w.storage.updateDevice(w.laptop.id, { name: 'LAPTOP-2' });
    const refusal = await expectRefused(csr, 'REQUEST_CHANGED');
    expect(refusal.detail).toContain('directory attributes');
  });

  it('REQUEST_CHANGED: a variable lost its value', async () => {
    const { csr } = deviceCsr();
    await w.storage.updateDevice(w.laptop.id, { serialNumber: null });
    const refusal = await expectRefused(csr, 'REQUEST_CHANGED');
    expect(refusal.detail).toContain('{{SerialNumber}}');
  });

  it('CSR_SIGNATURE_INVALID', async () => {
    await expectRefused(deviceCsr({ signatureValid: false }).csr, 'CSR_SIGNATURE_INVALID');
  });

  it('SUBJECT_MISSING', async () => {
    await expectRefused(deviceCsr({ subject: [] }).csr, 'SUBJECT_MISSING');
  });

  it('SUBJECT_MISMATCH: different value, extra attribute, missing attribute, case', async () => {
    const { r } = deviceCsr();
    const variants = [
      [{ type: 'CN', value: 'OTHER' }, ...r.subject.slice(1)],
      [...r.subject, { type: 'OU', value: 'extra' }],
      r.subject.slice(0, 2),
      [{ type: 'CN', value: 'laptop-1' }, ...r.subject.slice(1)],
    ];
    for (const subject of variants) {
      const refusal = await expectRefused(deviceCsr({ subject }).csr, 'SUBJECT_MISMATCH');
      expect(refusal.expected).toBe('CN=LAPTOP-1,OU=SN-1,O=Contoso');
    }
  });

  it('SAN_MISMATCH: a SAN the profile does not list (checked before missing ones)', async () => {
    const refusal = await expectRefused(deviceCsr({ subjectAltNames: [{ type: 'dns', value: 'evil.example.com' }] }).csr, 'SAN_MISMATCH');
    expect(refusal).toMatchObject({ expected: ['dns:LAPTOP-1.corp.contoso.com'], received: ['dns:evil.example.com'] });
    const extraIp = deviceCsr();
    extraIp.csr.subjectAltNames.push({ type: 'ip', value: '10.0.0.1' });
    await expectRefused(extraIp.csr, 'SAN_MISMATCH');
  });

  it('SAN_MISSING: a profile SAN the CSR lacks', async () => {
    await expectRefused(deviceCsr({ subjectAltNames: [] }).csr, 'SAN_MISSING');
  });

  it('SAN comparison: UPNs are case-sensitive, emails are not', async () => {
    const r = resolved(w, w.userProfile, userTarget());
    const csr = csrMatching(r, mint(w, r).token, {
      subjectAltNames: [
        { type: 'upn', value: 'alice@contoso.com' },
        { type: 'email', value: 'alice.smith@CONTOSO.com' },
      ],
    });
    expect((await w.crp.evaluate(pkcsReq(csr))).allow).toBe(true);
    const upper = csrMatching(r, mint(w, r).token, {
      subjectAltNames: [
        { type: 'upn', value: 'ALICE@contoso.com' },
        { type: 'email', value: 'Alice.Smith@contoso.com' },
      ],
    });
    await expectRefused(upper, 'SAN_MISMATCH');
  });

  it('KEY_USAGE_EXCEEDS_PROFILE', async () => {
    const refusal = await expectRefused(deviceCsr({ keyUsage: ['digitalSignature', 'keyCertSign'] }).csr, 'KEY_USAGE_EXCEEDS_PROFILE');
    expect(refusal.detail).toContain('keyCertSign');
  });

  it('EKU_EXCEEDS_PROFILE', async () => {
    const refusal = await expectRefused(deviceCsr({ extendedKeyUsages: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1'] }).csr, 'EKU_EXCEEDS_PROFILE');
    expect(refusal.detail).toContain('1.3.6.1.5.5.7.3.1');
  });

  it('KEY_TOO_SHORT: RSA below the profile minimum', async () => {
    const refusal = await expectRefused(deviceCsr({ publicKey: { algorithm: 'RSA', bits: 2047, spki: new Uint8Array(1) } }).csr, 'KEY_TOO_SHORT');
    expect(refusal).toMatchObject({ expected: 'RSA >= 2048 bits', received: 'RSA 2047 bits' });
  });

  it('KEY_TOO_SHORT: EC P-256 for a 4096-bit profile, while P-384 passes', async () => {
    const p = (await w.storage.updateProfile(w.devProfile.id, { ...w.devProfile, keySize: 4096 }))!;
    const r = resolved(w, p, deviceTarget());
    await expectRefused(csrMatching(r, mint(w, r).token, { publicKey: { algorithm: 'EC', bits: 256, spki: new Uint8Array(1) } }), 'KEY_TOO_SHORT');
    const ok = csrMatching(r, mint(w, r).token, { publicKey: { algorithm: 'EC', bits: 384, spki: new Uint8Array(1) } });
    expect((await w.crp.evaluate(pkcsReq(ok))).allow).toBe(true);
  });

  it('KEY_ALGORITHM_UNSUPPORTED: Ed25519, P-521, unknown', async () => {
    for (const publicKey of [
      { algorithm: 'Ed25519' as const, bits: 256 },
      { algorithm: 'EC' as const, bits: 521 },
      { algorithm: 'other' as const, bits: 0 },
    ]) {
      await expectRefused(deviceCsr({ publicKey: { ...publicKey, spki: new Uint8Array(1) } }).csr, 'KEY_ALGORITHM_UNSUPPORTED');
    }
  });

  it('identity challenges: a wrong subject is refused, an unknown device too', async () => {
    const r = identityRequest(w.laptop);
    await expectRefused(csrMatching(r, mint(w, r, { kind: 'identity' }).token, { subject: [{ type: 'CN', value: w.laptop.id }] }), 'SUBJECT_MISMATCH');
    const ghost = identityRequest({ ...w.laptop, id: randomUUID() });
    await expectRefused(csrMatching(ghost, mint(w, ghost, { kind: 'identity' }).token), 'TARGET_UNKNOWN');
  });

  it('stops at the first refusal', async () => {
    // Expired, and also a bad subject and a short key: only the expiry is reported.
    const r = resolved(w, w.devProfile, deviceTarget());
    const m = mint(w, r, { ttlSeconds: 1, now: new Date(0) });
    const csr = csrMatching(r, m.token, { subject: [], publicKey: { algorithm: 'RSA', bits: 512, spki: new Uint8Array(1) } });
    await expectRefused(csr, 'CHALLENGE_EXPIRED');
  });

  it('UNSUPPORTED_MESSAGE_TYPE for anything but PKCSReq and RenewalReq', async () => {
    const req = { ...pkcsReq(deviceCsr().csr), messageType: 'GetCRL' as unknown as 'PKCSReq' };
    expect(refusalOf(await w.crp.evaluate(req)).code).toBe('UNSUPPORTED_MESSAGE_TYPE');
  });

  it('INTERNAL_ERROR when a table runs a check before the facts it needs', async () => {
    const crp = new CertificateRegistrationPoint({
      storage: w.storage,
      challengePublicKey: w.keys.publicKey,
      checks: { PKCSReq: [checkSubject], RenewalReq: [] },
    });
    const refusal = refusalOf(await crp.evaluate(pkcsReq(deviceCsr().csr)));
    expect(refusal.code).toBe('INTERNAL_ERROR');
    expect(refusal.detail).toContain('subject');
  });
});
