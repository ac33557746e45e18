import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { CertificateRegistrationPoint, CHECKS, type Check, type IdentityRequest } from '../../../src/core/crp/index.js';
import type { CsrInfo } from '../../../src/core/csr-info.js';
import type { PolicyDecision, PolicyRequest } from '../../../src/core/policy-module.js';
import { identityRequest } from '../../../src/core/profile/resolve.js';
import type { ReasonCode } from '../../../src/core/reasons.js';
import { csrMatching, pkcsReq } from '../helpers.js';
import { makeWorld, type World } from '../world.js';

// Direct identity issuance (MS-WSTEP) as the CRP's IdentityReq row: the same
// runner as PKCSReq/RenewalReq, a dry run for the adapters' pre-token check,
// and no way in from SCEP.

let w: World;
beforeEach(async () => {
  w = await makeWorld();
});

function identityReq(csr: CsrInfo, deviceId: string | null): IdentityRequest {
  return { transactionId: `identity-${randomUUID()}`, messageType: 'IdentityReq', csr, deviceId, receivedAt: new Date() };
}

/** A CSR as Windows sends it: its own subject, no challenge. */
function windowsCsr(patch: Partial<CsrInfo> = {}): CsrInfo {
  return csrMatching(identityRequest(w.laptop), null, { subject: [{ type: 'CN', value: 'B1C43CD0-1624-5FBB-8E54-34CF17DFD3A1' }], ...patch });
}

function refusalOf(d: PolicyDecision) {
  if (d.allow) throw new Error('expected a refusal, got an approval');
  return d.refusal;
}

async function expectRefused(csr: CsrInfo, deviceId: string, code: ReasonCode) {
  const refusal = refusalOf(await w.crp.evaluateIdentity(identityReq(csr, deviceId)));
  expect(refusal.code).toBe(code);
  return refusal;
}

const WEAK: [string, Partial<CsrInfo>, ReasonCode][] = [
  ['RSA-2047', { publicKey: { algorithm: 'RSA', bits: 2047, spki: new Uint8Array(1) } }, 'KEY_TOO_SHORT'],
  ['P-521', { publicKey: { algorithm: 'EC', bits: 521, spki: new Uint8Array(1) } }, 'KEY_ALGORITHM_UNSUPPORTED'],
  ['Ed25519', { publicKey: { algorithm: 'Ed25519', bits: 256, spki: new Uint8Array(1) } }, 'KEY_ALGORITHM_UNSUPPORTED'],
  ['a bad self-signature', { signatureValid: false }, 'CSR_SIGNATURE_INVALID'],
];

describe('the IdentityReq row', () => {
  it('is run by the same table: device, block, identity shape, then the CSR', () => {
    expect(CHECKS.IdentityReq.map((c) => c.name)).toEqual([
      'identityDeviceExists',
      'deviceNotBlocked',
      'identityRequestResolves',
      'csrSignature',
      'keyAlgorithmAndSize',
    ]);
    // The CSR checks are the very objects the SCEP rows run.
    expect(CHECKS.IdentityReq.filter((c) => CHECKS.PKCSReq.includes(c)).map((c) => c.name)).toEqual(['deviceNotBlocked', 'csrSignature', 'keyAlgorithmAndSize']);
  });

  it("approves the device's identity shape whatever subject, SANs and extensions the CSR asks for", async () => {
    const csr = windowsCsr({ subjectAltNames: [{ type: 'dns', value: 'evil.example.com' }], extendedKeyUsages: ['1.3.6.1.5.5.7.3.1'] });
    const d = await w.crp.evaluateIdentity(identityReq(csr, w.laptop.id));
    expect(d).toEqual({
      allow: true,
      approval: { kind: 'identity', resolved: identityRequest(w.laptop), challenge: null, requireApproval: false, renewalOf: null },
    });
  });

  it('accepts RSA >= 2048 and EC P-256 / P-384 (the shared key policy at keySize 2048)', async () => {
    for (const publicKey of [
      { algorithm: 'RSA' as const, bits: 2048 },
      { algorithm: 'RSA' as const, bits: 4096 },
      { algorithm: 'EC' as const, bits: 256 },
      { algorithm: 'EC' as const, bits: 384 },
    ]) {
      const d = await w.crp.evaluateIdentity(identityReq(windowsCsr({ publicKey: { ...publicKey, spki: new Uint8Array(1) } }), w.laptop.id));
      expect(d.allow, `${publicKey.algorithm} ${publicKey.bits}`).toBe(true);
    }
  });

  it('refuses each CSR defect with its reason code', async () => {
    for (const [what, patch, code] of WEAK) {
      const refusal = await expectRefused(windowsCsr(patch), w.laptop.id, code);
      expect(refusal.code, what).toBe(code);
    }
  });

  it('TARGET_UNKNOWN: a device id with no record (the row reads the device itself, not the caller\'s copy)', async () => {
    const ghost = randomUUID();
    const refusal = await expectRefused(windowsCsr(), ghost, 'TARGET_UNKNOWN');
    expect(refusal.detail).toContain(ghost);
  });

  it('DEVICE_BLOCKED: read from storage now, before any CSR check; unblocked, it passes', async () => {
    expect((await w.storage.blockDevice(w.laptop.id, w.now.toISOString(), 'cessationOfOperation')).ok).toBe(true);
    const refusal = await expectRefused(windowsCsr({ signatureValid: false }), w.laptop.id, 'DEVICE_BLOCKED');
    expect(refusal.detail).toContain(w.laptop.id);
    await w.storage.unblockDevice(w.laptop.id);
    expect((await w.crp.evaluateIdentity(identityReq(windowsCsr(), w.laptop.id))).allow).toBe(true);
  });
});

describe('the IdentityReq dry run (the adapters\' pre-token check)', () => {
  it('refuses exactly what issuance refuses for the CSR, for a device not made yet', async () => {
    for (const [what, patch, code] of WEAK) {
      const dry = refusalOf(await w.crp.evaluateIdentity(identityReq(windowsCsr(patch), null), { dryRun: true }));
      const real = refusalOf(await w.crp.evaluateIdentity(identityReq(windowsCsr(patch), w.laptop.id)));
      expect(dry, what).toEqual(real);
      expect(dry.code, what).toBe(code);
    }
    expect((await w.crp.evaluateIdentity(identityReq(windowsCsr(), null), { dryRun: true })).allow).toBe(true);
  });

  it('judges a known device as issuance will (a blocked one is refused)', async () => {
    await w.storage.blockDevice(w.laptop.id, w.now.toISOString(), 'cessationOfOperation');
    expect(refusalOf(await w.crp.evaluateIdentity(identityReq(windowsCsr(), w.laptop.id), { dryRun: true })).code).toBe('DEVICE_BLOCKED');
  });

  it('only a dry run may judge a device that does not exist yet: a real decision without one is INTERNAL_ERROR', async () => {
    const refusal = refusalOf(await w.crp.evaluateIdentity(identityReq(windowsCsr(), null)));
    expect(refusal.code).toBe('INTERNAL_ERROR');
    expect(refusal.detail).toContain('identityDeviceExists');
  });
});

describe('no way into the IdentityReq row from SCEP', () => {
  it('evaluate() answers UNSUPPORTED_MESSAGE_TYPE to a request claiming to be an IdentityReq, even naming a real device', async () => {
    // Without the guard this request (no challenge, no signer we issued) would be approved an identity certificate.
    const forged = { ...pkcsReq(windowsCsr()), messageType: 'IdentityReq', deviceId: w.laptop.id } as unknown as PolicyRequest;
    const refusal = refusalOf(await w.crp.evaluate(forged));
    expect(refusal).toMatchObject({ code: 'UNSUPPORTED_MESSAGE_TYPE', received: 'IdentityReq' });
  });

  it('evaluateIdentity() runs only the IdentityReq row', async () => {
    const pkcs = { ...identityReq(windowsCsr(), w.laptop.id), messageType: 'PKCSReq' } as unknown as IdentityRequest;
    expect(refusalOf(await w.crp.evaluateIdentity(pkcs)).code).toBe('UNSUPPORTED_MESSAGE_TYPE');
  });
});

describe('declared reason codes', () => {
  it('every check declares known, distinct reason codes, and a summary for docs/crp.md', () => {
    for (const [row, checks] of Object.entries(CHECKS)) {
      for (const check of checks) {
        expect(new Set(check.refuses).size, `${row} ${check.name}`).toBe(check.refuses.length);
        expect(check.summary.length, `${row} ${check.name}`).toBeGreaterThan(10);
      }
    }
  });

  it('the runner answers INTERNAL_ERROR, naming the check, when a check refuses with a code it did not declare', async () => {
    const liar: Check = { name: 'liar', summary: 'refuses with what it did not declare', refuses: ['CSR_SIGNATURE_INVALID'], run: async () => ({ code: 'SUBJECT_MISMATCH' }) };
    const honest: Check = { ...liar, name: 'honest', refuses: ['SUBJECT_MISMATCH'] };
    const crp = (check: Check) => new CertificateRegistrationPoint({ storage: w.storage, challengePublicKey: w.keys.publicKey, checks: { IdentityReq: [check] } });
    const refusal = refusalOf(await crp(liar).evaluateIdentity(identityReq(windowsCsr(), w.laptop.id)));
    expect(refusal.code).toBe('INTERNAL_ERROR');
    expect(refusal.detail).toMatch(/liar refused with SUBJECT_MISMATCH, which it does not declare/);
    expect(refusalOf(await crp(honest).evaluateIdentity(identityReq(windowsCsr(), w.laptop.id))).code).toBe('SUBJECT_MISMATCH');
  });

  it("the IdentityReq row's refusal paths each give one of the refusing check's declared codes, and all are reached", async () => {
    // Each check wrapped to record who refused with what, run through the real runner.
    const seen = new Map<string, Set<ReasonCode>>();
    const wrapped = CHECKS.IdentityReq.map((check): Check => ({
      ...check,
      run: async (ctx) => {
        const r = await check.run(ctx);
        if (r) {
          expect(check.refuses, check.name).toContain(r.code);
          seen.set(check.name, (seen.get(check.name) ?? new Set()).add(r.code));
        }
        return r;
      },
    }));
    const crp = new CertificateRegistrationPoint({ storage: w.storage, challengePublicKey: w.keys.publicKey, checks: { IdentityReq: wrapped } });
    const blocked = await w.storage.createDevice({ name: 'B', platform: 'windows' });
    await w.storage.blockDevice(blocked.id, w.now.toISOString(), 'cessationOfOperation');
    const cases: [CsrInfo, string][] = [
      [windowsCsr(), randomUUID()],
      [windowsCsr(), blocked.id],
      ...WEAK.map(([, patch]) => [windowsCsr(patch), w.laptop.id] as [CsrInfo, string]),
    ];
    for (const [csr, deviceId] of cases) expect((await crp.evaluateIdentity(identityReq(csr, deviceId))).allow).toBe(false);
    for (const check of CHECKS.IdentityReq) expect([...(seen.get(check.name) ?? [])].sort(), check.name).toEqual([...check.refuses].sort());
  });
});

