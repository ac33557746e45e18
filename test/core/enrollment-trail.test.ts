import { beforeEach, describe, expect, it } from 'vitest';
import { builtInIssuer } from '../../src/ca/issuer.js';
import { AuditLog } from '../../src/core/audit-log.js';
import { EnrollmentService } from '../../src/core/enrollment.js';
import type { PolicyModule } from '../../src/core/policy-module.js';
import type { Storage } from '../../src/core/storage/storage.js';
import { createLogger } from '../../src/log.js';
import { csrMatching, ecSpki, pkcsReq, testCa } from './helpers.js';
import { makeWorld, mint, resolved, spend, type World } from './world.js';

// Issue 13: an issuance writes its audit trail (scep.received, crp.passed,
// ca.issued) inside the issuing transaction. Every other outcome of that
// transaction must still leave the trail as it did when each record was
// appended on its own: what was received and decided, then the refusal.

const log = createLogger('silent');
let w: World;
beforeEach(async () => {
  w = await makeWorld();
});

async function service(storage: Storage, policy: PolicyModule = w.crp) {
  const { authority } = await testCa();
  return new EnrollmentService({ storage, policy, issuer: builtInIssuer(authority), parseCsr: () => Promise.reject(new Error('unused')), log, audit: new AuditLog(storage, log) });
}

function request() {
  const r = resolved(w, w.devProfile, { kind: 'device', deviceId: w.laptop.id });
  const c = mint(w, r);
  return { r, c, req: { ...pkcsReq(csrMatching(r, c.token, { publicKey: { algorithm: 'EC', bits: 256, spki: ecSpki() } })), receivedAt: w.now } };
}

const trailOf = async (transactionId: string) => (await w.storage.listAudit({ transactionId })).map((e) => [e.type, e.reasonCode]);

describe('the audit trail of an enrollment', () => {
  it('is written with the certificate: received, passed, issued, in that order', async () => {
    const { req } = request();
    const outcome = await (await service(w.storage)).enroll(req);
    expect(outcome.status).toBe('issued');
    expect(await trailOf(req.transactionId)).toEqual([['scep.received', null], ['crp.passed', null], ['ca.issued', null]]);
    const [issued] = await w.storage.listAudit({ transactionId: req.transactionId, type: 'ca.issued' });
    const cert = (await w.storage.listCertificates({ deviceIds: [w.laptop.id] }))[0]!;
    expect(issued!.details).toMatchObject({ serialNumber: cert.serialNumber, thumbprint: cert.thumbprint });
  });

  it('keeps what was received and decided when the challenge is spent between the check and the issuing transaction', async () => {
    const { r, c, req } = request();
    // A concurrent request spends the challenge right after this one passed the CRP.
    const racing: PolicyModule = {
      name: 'crp',
      evaluate: async (q) => {
        const d = await w.crp.evaluate(q);
        expect((await spend(w, c, r)).ok).toBe(true);
        return d;
      },
    } as PolicyModule;
    const outcome = await (await service(w.storage, racing)).enroll(req);
    expect(outcome).toMatchObject({ status: 'rejected', refusal: { code: 'CHALLENGE_ALREADY_USED' } });
    expect(await trailOf(req.transactionId)).toEqual([['scep.received', null], ['crp.passed', null], ['crp.refused', 'CHALLENGE_ALREADY_USED']]);
    expect(await w.storage.getEnrollment(req.transactionId)).toBeNull();
  });

  it('keeps what was received and decided when the issuing transaction fails', async () => {
    const { req } = request();
    const failing = new Proxy(w.storage, {
      get(target, prop, receiver) {
        if (prop === 'recordEnrollment') return () => Promise.reject(new Error('disk I/O error'));
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    await expect((await service(failing)).enroll(req)).rejects.toThrow('disk I/O error');
    expect(await trailOf(req.transactionId)).toEqual([['scep.received', null], ['crp.passed', null]]);
    expect(await w.storage.listCertificates()).toEqual([]);
  });
});
