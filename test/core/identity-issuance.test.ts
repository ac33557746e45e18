import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { builtInIssuer } from '../../src/ca/issuer.js';
import { CertificateRegistrationPoint } from '../../src/core/crp/index.js';
import { issueIdentityCertificate, precheckIdentityCsr, type IdentityIssuanceDeps } from '../../src/core/identity-issuance.js';
import type { Device } from '../../src/core/model.js';
import type { Storage } from '../../src/core/storage/storage.js';
import { createLogger } from '../../src/log.js';
import { parseCsr } from '../../src/x509/csr-parser.js';
import { challengeKeys, newStorage, testCa } from './helpers.js';

// Direct identity issuance through the CRP's IdentityReq row, on real parts:
// SQLite storage, the built-in CA, the production CSR parser and openssl CSRs.
// The pre-token check is the same row as a dry run, so it refuses exactly what
// issuance refuses for the CSR, and it writes nothing.

/** A PKCS#10 from openssl with its own subject, as a Windows client sends one. */
function opensslCsr(newkey: string[]): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'identity-csr-'));
  try {
    const out = path.join(dir, 'req.der');
    execFileSync('openssl', ['req', '-new', ...newkey, '-nodes', '-keyout', path.join(dir, 'k.pem'), '-subj', '/CN=B1C43CD0-1624-5FBB-8E54-34CF17DFD3A1', '-outform', 'DER', '-out', out], { stdio: 'ignore' });
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same CSR with a flipped bit in its signature: parses, does not verify. */
function badSignature(der: Buffer): Buffer {
  const copy = Buffer.from(der);
  copy[copy.length - 5]! ^= 0x01;
  return copy;
}

let CSRS: { name: string; der: Buffer; code: string | null }[];
beforeAll(() => {
  const rsa2048 = opensslCsr(['-newkey', 'rsa:2048']);
  CSRS = [
    { name: 'RSA-2048', der: rsa2048, code: null },
    { name: 'EC P-256', der: opensslCsr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']), code: null },
    { name: 'RSA-1024', der: opensslCsr(['-newkey', 'rsa:1024']), code: 'KEY_TOO_SHORT' },
    { name: 'EC P-521', der: opensslCsr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521']), code: 'KEY_ALGORITHM_UNSUPPORTED' },
    { name: 'secp256k1', der: opensslCsr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1']), code: 'KEY_ALGORITHM_UNSUPPORTED' },
    { name: 'a bad signature', der: badSignature(rsa2048), code: 'CSR_SIGNATURE_INVALID' },
    { name: 'not a CSR', der: Buffer.from('not a certificate request'), code: 'MESSAGE_MALFORMED' },
  ];
});

let storage: Storage;
let deps: IdentityIssuanceDeps;
let device: Device;
beforeEach(async () => {
  storage = await newStorage();
  const { authority } = await testCa();
  deps = {
    storage,
    issuer: builtInIssuer(authority),
    parseCsr,
    identityPolicy: new CertificateRegistrationPoint({ storage, challengePublicKey: challengeKeys().publicKey }),
    log: createLogger('silent'),
  };
  device = await storage.createDevice({ name: 'WIN-1', platform: 'windows' });
});

const refusedAudit = () => storage.listAudit({ type: 'identity.refused' });

describe('identity issuance runs the IdentityReq row', () => {
  it('the pre-token dry run and issuance give the same answer for each CSR; the dry run writes nothing', async () => {
    for (const csr of CSRS) {
      const pre = await precheckIdentityCsr(deps, csr.der);
      expect(pre?.code ?? null, csr.name).toBe(csr.code);
      // Nothing issued, recorded or audited by the dry run.
      expect(await storage.listCertificates({ deviceId: device.id }), csr.name).toEqual([]);
      expect(await refusedAudit(), csr.name).toEqual([]);
    }
    let issued = 0;
    for (const csr of CSRS) {
      const before = (await refusedAudit()).length;
      const r = await issueIdentityCertificate(deps, device, csr.der, 'adapter:test');
      expect(r.ok ? null : r.refusal.code, csr.name).toBe(csr.code);
      if (r.ok) issued++;
      else expect((await refusedAudit()).length, csr.name).toBe(before + 1);
    }
    expect(await storage.listCertificates({ deviceId: device.id })).toHaveLength(issued);
  });

  it("issues the identity shape (CN=<device id>), not the CSR's subject, and records it before returning it", async () => {
    const r = await issueIdentityCertificate(deps, device, CSRS[0]!.der, 'adapter:test');
    if (!r.ok) throw new Error(r.refusal.code);
    const cert = new X509Certificate(r.certificate.der);
    expect(cert.subject).toContain(`CN=${device.id}`);
    expect(cert.subject).not.toContain('B1C43CD0');
    expect(await storage.getCertificate(r.certificate.serialNumber)).toMatchObject({ kind: 'identity', deviceId: device.id });
  });

  it('DEVICE_BLOCKED: the row reads the block now, whatever the caller\'s copy says; audited, nothing recorded', async () => {
    await storage.blockDevice(device.id, new Date().toISOString(), 'cessationOfOperation');
    const r = await issueIdentityCertificate(deps, device, CSRS[0]!.der, 'adapter:test');
    expect(r.ok ? null : r.refusal.code).toBe('DEVICE_BLOCKED');
    expect((await refusedAudit()).at(-1)).toMatchObject({ reasonCode: 'DEVICE_BLOCKED', actor: 'adapter:test' });
    expect(await storage.listCertificates({ deviceId: device.id })).toEqual([]);
  });

  it('TARGET_UNKNOWN: a device with no record is refused and audited, not thrown and not issued (a check issuance lacked)', async () => {
    const ghost: Device = { ...device, id: randomUUID() };
    const r = await issueIdentityCertificate(deps, ghost, CSRS[0]!.der, 'adapter:test');
    expect(r.ok ? null : r.refusal.code).toBe('TARGET_UNKNOWN');
    expect((await refusedAudit()).at(-1)).toMatchObject({ reasonCode: 'TARGET_UNKNOWN' });
    expect(await storage.listCertificates({ deviceId: ghost.id })).toEqual([]);
  });
});
