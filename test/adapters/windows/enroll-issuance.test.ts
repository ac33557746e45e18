import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { X509Certificate, webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWindowsAdapter } from '../../../src/adapters/windows/index.js';
import type { WindowsState } from '../../../src/adapters/windows/state.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { WindowsSimulator } from '../../../src/sim/windows.js';

// The Windows enrollment and core's identity issuance agree (architecture
// issue #8, item 7): the precheck before the token is spent is the issuance's
// own CSR check, a CA failure is an audited EnrollmentServer fault rather than
// an exception, and what the enrollment records is timed by the adapter's clock.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

// The adapter's clock, set apart from the system's so a record timed by `new Date()` shows.
const ADAPTER_NOW = new Date('2030-05-06T07:08:09.000Z');

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [createWindowsAdapter({ now: () => ADAPTER_NOW })] });
});
afterAll(async () => {
  await t.stop();
});

let n = 0;
async function userWithToken() {
  const upn = `issuance${++n}@contoso.com`;
  const user = await t.api.ok('POST', '/users', { userPrincipalName: upn, email: upn, displayName: `Issuance ${n}` });
  const token = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
  return { user, upn, token };
}

async function devicesOf(userId: string) {
  const devices = await t.api.ok('GET', '/devices');
  return devices.filter((d: { userId: string }) => d.userId === userId);
}

/** A PKCS#10 on an EC curve WebCrypto cannot make (P-192, secp256k1), from openssl. */
function opensslEcCsr(curve: string): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'win-curve-'));
  try {
    const out = path.join(dir, 'req.der');
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-nodes', '-keyout', path.join(dir, 'k.pem'), '-subj', '/CN=x', '-outform', 'DER', '-out', out], { stdio: 'ignore' });
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function p521Csr(): Promise<Buffer> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-521' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
  return Buffer.from(csr.rawData);
}

describe('Windows enrollment: the CSR precheck is the issuance key policy', () => {
  it('refuses P-521, P-192 and secp256k1 CSRs before the token is spent: no device, audited with the reason code, the token still enrolls', async () => {
    const { user, upn, token } = await userWithToken();
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token.token });
    const d = await sim.discover();
    const csrs: [string, Buffer][] = [
      ['P-521', await p521Csr()],
      ['P-192', opensslEcCsr('prime192v1')],
      ['secp256k1', opensslEcCsr('secp256k1')],
    ];
    for (const [curve, csr] of csrs) {
      const before = (await t.gw.storage.listAudit({ type: 'windows.enrollment.refused' })).length;
      const r = await sim.requestSecurityToken(d.enrollmentUrl, csr.toString('base64'));
      expect(r.fault, curve).toEqual({ subcode: 's:CertificateRequest', reason: expect.stringMatching(/KEY_ALGORITHM_UNSUPPORTED/) });
      expect(r.status, curve).toBe(400);
      const audit = await t.gw.storage.listAudit({ type: 'windows.enrollment.refused' });
      expect(audit.length, curve).toBe(before + 1);
      expect(audit.at(-1), curve).toMatchObject({ reasonCode: 'KEY_ALGORITHM_UNSUPPORTED', details: { reason: 'csr', tokenId: token.id } });
    }
    // Nothing was issued, no device was made, and the token was not spent: the same token enrolls now.
    expect(await devicesOf(user.id)).toHaveLength(0);
    expect(await t.gw.storage.listAudit({ type: 'identity.refused' })).toHaveLength(0);
    expect((await sim.enroll()).fault).toBeUndefined();
    expect(await devicesOf(user.id)).toHaveLength(1);
  });
});

describe('Windows enrollment: a CA failure', () => {
  it('is an audited EnrollmentServer fault (503) with INTERNAL_ERROR, not an exception, and nothing is recorded as issued', async () => {
    const { user, upn, token } = await userWithToken();
    // The CA's own key fails, as an unreachable HSM would: the real CA, through the real route.
    const key = t.gw.root.key as { sign: typeof t.gw.root.key.sign };
    const sign = key.sign;
    key.sign = async () => {
      throw new Error('the CA key is unavailable');
    };
    let r;
    try {
      r = await new WindowsSimulator({ baseUrl: t.url, upn, password: token.token }).enroll();
    } finally {
      key.sign = sign;
    }
    expect(r.status).toBe(503);
    expect(r.fault).toEqual({ subcode: 's:EnrollmentServer', reason: expect.stringMatching(/could not issue/) });
    const [device] = await devicesOf(user.id);
    const refused = (await t.gw.storage.listAudit({ type: 'identity.refused' })).at(-1)!;
    expect(refused).toMatchObject({ reasonCode: 'INTERNAL_ERROR', actor: 'adapter:windows', details: { detail: expect.stringContaining('the CA key is unavailable') } });
    expect(await t.gw.storage.listCertificates({ deviceId: device.id })).toEqual([]);
    expect((await t.gw.storage.listAudit({ type: 'windows.enrolled' })).filter((e) => e.details.deviceId === device.id)).toEqual([]);
  });
});

describe('Windows enrollment: the adapter clock', () => {
  it('times the enrollment record and the RSTR by the clock the adapter was given', async () => {
    const { upn, token } = await userWithToken();
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: token.token });
    const r = await sim.enroll();
    expect(r.fault).toBeUndefined();
    const deviceId = new X509Certificate(sim.identity!).subject.match(/CN=([0-9a-f-]{36})/)![1]!;
    const state = (await t.gw.storage.getPlatformState(deviceId, 'windows')) as WindowsState | null;
    expect(state?.enrollment?.at).toBe(ADAPTER_NOW.toISOString());
    expect(r.body).toContain(`<u:Created>${ADAPTER_NOW.toISOString()}</u:Created>`);
  });
});
