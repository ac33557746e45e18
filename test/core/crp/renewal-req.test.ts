import { createHash, randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { CsrInfo } from '../../../src/core/csr-info.js';
import type { IssuedCertificateData } from '../../../src/core/issuer.js';
import { certificateRecord, enrollmentRecord } from '../../../src/core/issued-records.js';
import type { CertificateKind, ResolvedRequest } from '../../../src/core/model.js';
import type { PolicyDecision } from '../../../src/core/policy-module.js';
import { identityRequest } from '../../../src/core/profile/resolve.js';
import type { ReasonCode } from '../../../src/core/reasons.js';
import type { KyselyStorage } from '../../../src/core/storage/kysely-storage.js';
import { csrMatching, ecSpki, renewalReq, testCa } from '../helpers.js';
import { makeWorld, resolved, type World } from '../world.js';

// Certificates here are issued by the real built-in CA and recorded in the
// real storage, so the serial-number lookup and the subject parsing run
// against what production issues.

let w: World;
beforeEach(async () => {
  w = await makeWorld();
});

const DAY = 86_400_000;

/** Issues a certificate for the resolved request, valid from a day before the world's clock. */
async function issue(r: ResolvedRequest, opts: { validityDays?: number; store?: boolean } = {}) {
  const { authority } = await testCa();
  const cert = await authority.issue({
    subject: r.subject,
    subjectAlternativeNames: r.subjectAlternativeNames,
    extendedKeyUsages: r.extendedKeyUsages,
    keyUsage: r.keyUsage,
    validityDays: opts.validityDays ?? r.validityDays,
    hashAlgorithm: r.hashAlgorithm,
    spki: ecSpki(),
    notBefore: new Date(w.now.getTime() - DAY),
  });
  if (opts.store !== false) await store(r, cert);
  return cert;
}

/** Records the certificate the way production does: the same enrollment and certificate records (core/issued-records.ts). */
async function store(r: ResolvedRequest, cert: IssuedCertificateData, der = cert.der) {
  const transactionId = randomBytes(8).toString('hex');
  const kind: CertificateKind = r.profileId ? 'profile' : 'identity';
  const csrDer = new Uint8Array([1]);
  const result = await w.storage.recordEnrollment(
    null,
    enrollmentRecord({ transactionId, status: 'issued', kind, resolved: r, challengeId: null, csrSha256: createHash('sha256').update(csrDer).digest('hex'), csrDer }),
    { ...certificateRecord(kind, transactionId, r, cert), der },
  );
  expect(result).toEqual({ ok: true });
}
const issueUnstored = async (r: ResolvedRequest) => (await testCa()).authority.issue({ ...r, spki: ecSpki() });

const deviceTarget = () => ({ kind: 'device' as const, deviceId: w.laptop.id });
const userTarget = () => ({ kind: 'user' as const, userId: w.alice.id, deviceId: w.laptop.id });

/** The renewal CSR a device sends: the old subject and SANs, no challenge. */
const renewalCsr = (r: ResolvedRequest, patch: Partial<CsrInfo> = {}) => csrMatching(r, null, patch);

function refusalOf(d: PolicyDecision) {
  if (d.allow) throw new Error('expected a refusal, got an approval');
  return d.refusal;
}
async function expectRefused(csr: CsrInfo, signer: Uint8Array, code: ReasonCode) {
  const refusal = refusalOf(await w.crp.evaluate(renewalReq(csr, signer)));
  expect(refusal.code).toBe(code);
  return refusal;
}

describe('RenewalReq: approvals', () => {
  it('renews a device certificate: no challenge, current resolved request', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r);
    const d = await w.crp.evaluate(renewalReq(renewalCsr(r), cert.der));
    expect(d).toEqual({ allow: true, approval: { kind: 'profile', resolved: r, challenge: null, requireApproval: false, renewalOf: cert.serialNumber } });
  });

  it("issues from the profile's current version while the CSR keeps the old subject", async () => {
    const r1 = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r1);
    const v2 = (await w.storage.updateProfile(w.devProfile.id, { ...w.devProfile, subjectName: 'CN={{DeviceName}},O=Contoso Ltd', validityDays: 90 }))!;
    const d = await w.crp.evaluate(renewalReq(renewalCsr(r1), cert.der));
    expect(d.allow && d.approval.resolved).toEqual(resolved(w, v2, deviceTarget()));
    expect(d.allow && d.approval.resolved.profileVersion).toBe(2);
    expect(d.allow && d.approval.resolved.subject).toEqual([
      { type: 'CN', value: 'LAPTOP-1' },
      { type: 'O', value: 'Contoso Ltd' },
    ]);
  });

  it('renews a user certificate on its device', async () => {
    const r = resolved(w, w.userProfile, userTarget());
    const cert = await issue(r);
    const d = await w.crp.evaluate(renewalReq(renewalCsr(r), cert.der));
    expect(d.allow && d.approval).toMatchObject({ kind: 'profile', challenge: null, resolved: { target: userTarget() } });
  });

  it('renews the device identity certificate', async () => {
    const r = identityRequest(w.kiosk);
    const cert = await issue(r);
    const d = await w.crp.evaluate(renewalReq(renewalCsr(r), cert.der));
    expect(d).toEqual({ allow: true, approval: { kind: 'identity', resolved: r, challenge: null, requireApproval: false, renewalOf: cert.serialNumber } });
  });

  it('finds serials whose first hex digit is 0', async () => {
    const r = identityRequest(w.kiosk);
    let cert = await issue(r);
    for (let i = 0; i < 80 && !cert.serialNumber.startsWith('0'); i++) cert = await issue(r);
    expect(cert.serialNumber.startsWith('0')).toBe(true);
    expect((await w.crp.evaluate(renewalReq(renewalCsr(r), cert.der))).allow).toBe(true);
  });
});

describe('RenewalReq: each refusal', () => {
  it('RENEWAL_SIGNER_UNKNOWN: not a certificate', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    await expectRefused(renewalCsr(r), new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), 'RENEWAL_SIGNER_UNKNOWN');
  });

  it('RENEWAL_SIGNER_UNKNOWN: signed by our CA but never recorded', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r, { store: false });
    const refusal = await expectRefused(renewalCsr(r), cert.der, 'RENEWAL_SIGNER_UNKNOWN');
    const received = refusal.received as { serialNumber: string };
    expect(received.serialNumber.replace(/^0+/, '')).toBe(cert.serialNumber.replace(/^0+/, ''));
  });

  it('RENEWAL_SIGNER_UNKNOWN: a stored serial number but different bytes', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const real = await issue(r, { store: false });
    const other = await issue(r, { store: false });
    await store(r, real, other.der); // the record under real's serial holds other bytes
    const refusal = await expectRefused(renewalCsr(r), real.der, 'RENEWAL_SIGNER_UNKNOWN');
    expect(refusal.detail).toContain('bytes differ');
  });

  it('RENEWAL_SIGNER_EXPIRED', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r, { validityDays: 1 }); // notBefore = now - 1 day: expires exactly now
    const refusal = await expectRefused(renewalCsr(r), cert.der, 'RENEWAL_SIGNER_EXPIRED');
    expect(refusal.expected).toBe(`before ${cert.notAfter.toISOString()}`);
  });

  it('RENEWAL_SIGNER_REVOKED', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r);
    expect(await w.storage.revokeCertificateChain(cert.serialNumber, w.now.toISOString(), 'keyCompromise')).toEqual({ ok: true, revoked: [cert.serialNumber] });
    await expectRefused(renewalCsr(r), cert.der, 'RENEWAL_SIGNER_REVOKED');
  });

  it('PROFILE_UNKNOWN: the profile was deleted', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r);
    await w.storage.deleteProfile(w.devProfile.id);
    await expectRefused(renewalCsr(r), cert.der, 'PROFILE_UNKNOWN');
  });

  it('PROFILE_NOT_ASSIGNED: the device left the group the profile is assigned to', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r);
    await w.storage.removeGroupMember(w.laptops.id, { deviceId: w.laptop.id });
    await expectRefused(renewalCsr(r), cert.der, 'PROFILE_NOT_ASSIGNED');
  });

  it("TARGET_UNKNOWN: the certificate's device is not in the directory", async () => {
    const ghost = { ...w.kiosk, id: '0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b' };
    const r = identityRequest(ghost);
    const cert = await issue(r);
    await expectRefused(renewalCsr(r), cert.der, 'TARGET_UNKNOWN');
  });

  it('RENEWAL_SIGNER_REVOKED: blocking the device revoked the certificate', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r);
    await w.storage.blockDevice(w.laptop.id, w.now.toISOString(), 'cessationOfOperation');
    await expectRefused(renewalCsr(r), cert.der, 'RENEWAL_SIGNER_REVOKED');
  });

  it('DEVICE_BLOCKED: the block alone refuses a renewal (defence in depth: a certificate the block did not revoke)', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r);
    await (w.storage as KyselyStorage).db.updateTable('devices').set({ blocked_at: w.now.toISOString() }).where('id', '=', w.laptop.id).execute();
    await expectRefused(renewalCsr(r), cert.der, 'DEVICE_BLOCKED');
  });

  it("TARGET_PRIMARY_USER_CHANGED: a user's certificate on a device that changed hands", async () => {
    const r = resolved(w, w.userProfile, userTarget());
    const cert = await issue(r);
    await w.storage.updateDevice(w.laptop.id, { userId: w.bob.id });
    await expectRefused(renewalCsr(r), cert.der, 'TARGET_PRIMARY_USER_CHANGED');
  });

  it('ATTRIBUTE_MISSING: the current profile no longer resolves for the target', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r);
    await w.storage.updateDevice(w.laptop.id, { serialNumber: null });
    const refusal = await expectRefused(renewalCsr(r), cert.der, 'ATTRIBUTE_MISSING');
    expect(refusal.detail).toContain('{{SerialNumber}}');
  });

  it('CSR_SIGNATURE_INVALID', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r);
    await expectRefused(renewalCsr(r, { signatureValid: false }), cert.der, 'CSR_SIGNATURE_INVALID');
  });

  it('RENEWAL_SUBJECT_MISMATCH and SUBJECT_MISSING', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r);
    const refusal = await expectRefused(renewalCsr(r, { subject: [{ type: 'CN', value: 'someone-else' }] }), cert.der, 'RENEWAL_SUBJECT_MISMATCH');
    expect(refusal).toMatchObject({ expected: 'CN=LAPTOP-1,OU=SN-1,O=Contoso', received: 'CN=someone-else' });
    await expectRefused(renewalCsr(r, { subject: [] }), cert.der, 'SUBJECT_MISSING');
  });

  it('the CSR content checks apply to renewals too', async () => {
    const r = resolved(w, w.devProfile, deviceTarget());
    const cert = await issue(r);
    await expectRefused(renewalCsr(r, { subjectAltNames: [{ type: 'dns', value: 'evil.example' }] }), cert.der, 'SAN_MISMATCH');
    await expectRefused(renewalCsr(r, { subjectAltNames: [] }), cert.der, 'SAN_MISSING');
    await expectRefused(renewalCsr(r, { keyUsage: ['cRLSign'] }), cert.der, 'KEY_USAGE_EXCEEDS_PROFILE');
    await expectRefused(renewalCsr(r, { extendedKeyUsages: ['1.3.6.1.5.5.7.3.1'] }), cert.der, 'EKU_EXCEEDS_PROFILE');
    await expectRefused(renewalCsr(r, { publicKey: { algorithm: 'RSA', bits: 1024, spki: new Uint8Array(1) } }), cert.der, 'KEY_TOO_SHORT');
    await expectRefused(renewalCsr(r, { publicKey: { algorithm: 'Ed25519', bits: 256, spki: new Uint8Array(1) } }), cert.der, 'KEY_ALGORITHM_UNSUPPORTED');
  });
});
