import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CsrInfo } from '../../src/core/csr-info.js';
import type { Profile, ProfileSpec, ResolvedRequest } from '../../src/core/model.js';
import type { PolicyRequest } from '../../src/core/policy-module.js';
import { profileSpec } from '../helpers/profile-spec.js';
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';
import type { Storage } from '../../src/core/storage/storage.js';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { loadOrCreateCaMaterial } from '../../src/ca/key-files.js';

export const newStorage = (): Promise<Storage> => openSqliteStorage(':memory:');

export function challengeKeys() {
  return generateKeyPairSync('ed25519');
}

/** A valid spec with defaults filled, through the real schema. */
export const spec = profileSpec;

export async function createProfile(storage: Storage, input: Record<string, unknown>): Promise<Profile> {
  return storage.createProfile(spec(input));
}

/** A CSR that matches the resolved request exactly; override what a test breaks. */
export function csrMatching(resolved: ResolvedRequest, challengePassword: string | null, overrides: Partial<CsrInfo> = {}): CsrInfo {
  return {
    der: new Uint8Array(randomBytes(64)),
    subject: resolved.subject.map((r) => ({ ...r })),
    subjectAltNames: resolved.subjectAlternativeNames.map((s) => ({ ...s })),
    keyUsage: [...resolved.keyUsage],
    extendedKeyUsages: [...resolved.extendedKeyUsages],
    publicKey: { algorithm: 'RSA', bits: 2048, spki: new Uint8Array(randomBytes(32)) },
    challengePassword,
    signatureValid: true,
    ...overrides,
  };
}

export function pkcsReq(csr: CsrInfo): PolicyRequest {
  return {
    transactionId: randomBytes(8).toString('hex'),
    messageType: 'PKCSReq',
    csr,
    signerCertificate: new Uint8Array(randomBytes(16)),
    receivedAt: new Date(),
  };
}

export function renewalReq(csr: CsrInfo, signerCertificate: Uint8Array): PolicyRequest {
  return {
    transactionId: randomBytes(8).toString('hex'),
    messageType: 'RenewalReq',
    csr,
    signerCertificate,
    receivedAt: new Date(),
  };
}

/** A small, fast subject public key (DER SPKI) for certificates the real CA issues in tests. */
export function ecSpki(): Uint8Array {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
}

/** The real built-in CA, created once per test file in a temporary data directory. */
let caPromise: Promise<{ authority: CertificateAuthority; rootPem: string }> | null = null;
export function testCa() {
  caPromise ??= (async () => {
    const ca = await loadOrCreateCaMaterial(await mkdtemp(path.join(tmpdir(), 'mdmgw-core-ca-')));
    const b64 = Buffer.from(ca.root.certificate).toString('base64').replace(/.{64}/g, '$&\n');
    return { authority: new CertificateAuthority(ca.root), rootPem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n` };
  })();
  return caPromise;
}
