import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toPem } from '../pem.js';
import type { KeyedCertificate } from '../x509/keys.js';
import { softwareKey } from '../x509/software-key.js';
import { keyIdentifierFor } from './certificate-builder.js';
import { parseTime, readCertificate, subjectKeyIdentifierOf } from '../x509/cert-raw.js';
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  CaKeyFileError,
  createExclusive,
  createRoot,
  exists,
  CA_KEY_TYPES,
  DEFAULT_CA_KEY,
  generateCaKey,
  keyPem,
  keyTypeOfCertificate,
  loadPair,
  RA_CERT_FILE,
  RA_KEY_FILE,
  replaceFile,
  switchRa,
  type CaKeyType,
  type LoadedPair,
} from './key-files.js';

// CA rollover (`mdmgw ca rollover`): a new root replaces ca.key/ca.pem and the
// old one is kept, with its key, as ca-retired/<caId>.key|.pem (encrypted
// with MDMGW_CA_PASSPHRASE like ca.key). A retired CA issues nothing new but
// keeps signing CRLs and OCSP answers for what it issued, and device identity
// certificates it issued keep authenticating, until its last certificate
// expires. The RA is re-issued under the new root at once (the old RA stays as
// ra.previous.* for clients that fetched it). The gateway reads the data
// directory at start: a running gateway keeps its CAs until it is restarted.

export const RETIRED_CA_DIR = 'ca-retired';

/** CertificateAuthority.id of a CA certificate: lower-case hex of its subject key identifier. */
export function caIdOf(certificate: Uint8Array): string {
  const raw = readCertificate(certificate);
  return Buffer.from(subjectKeyIdentifierOf(raw) ?? keyIdentifierFor(raw.spki)).toString('hex');
}

/** The retired CAs in `dataDir`, newest (latest notBefore) first; none when the directory is absent. */
export async function loadRetiredCas(dataDir: string, passphrase: string | undefined): Promise<KeyedCertificate[]> {
  const dir = join(dataDir, RETIRED_CA_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const cas: { ca: KeyedCertificate; notBefore: number }[] = [];
  for (const name of names.filter((n) => /^[0-9a-f]+\.pem$/.test(n)).sort()) {
    const id = name.slice(0, -'.pem'.length);
    const pair = await loadPair(join(dir, `${id}.key`), join(dir, name), passphrase);
    if (caIdOf(pair.certificate) !== id) throw new CaKeyFileError(`${join(dir, name)} holds CA ${caIdOf(pair.certificate)}, not ${id}: restore the file from backup`);
    cas.push({ ca: { certificate: pair.certificate, key: softwareKey(pair.key) }, notBefore: parseTime(readCertificate(pair.certificate).notBefore).getTime() });
  }
  return cas.sort((a, b) => b.notBefore - a.notBefore).map((c) => c.ca);
}

export interface RolloverResult {
  retiredId: string;
  currentId: string;
  /** The new root's certificate (PEM). */
  rootPem: string;
  /** The key types of the retired and the new CA ('rsa3072', 'p256', ...). */
  retiredKeyType: string;
  keyType: CaKeyType;
}

/**
 * Retires the current CA and makes a new one: of `keyType` when given (the
 * type may change: docs/ca-keys.md), else of the old CA's type (rsa3072 when
 * the old one is neither rsa3072 nor p256). Order matters for a crash
 * half-way: the old CA is saved under ca-retired/ before ca.* is replaced, so
 * it is never lost.
 */
export async function rollOverCa(dataDir: string, opts: { passphrase?: string; organization?: string; keyType?: CaKeyType } = {}): Promise<RolloverResult> {
  const passphrase = opts.passphrase || undefined;
  const organization = opts.organization ?? 'mdm-gateway';
  // A subordinate CA (ca-chain.pem, `mdmgw ca import`) is renewed by the enterprise CA, not replaced by a root of ours.
  if (await exists(join(dataDir, 'ca-chain.pem'))) {
    throw new CaKeyFileError(`the CA in ${dataDir} is a subordinate of an enterprise root (ca-chain.pem): a rollover would replace it with a self-signed root; renew it with the enterprise CA instead (docs/enterprise-pki.md)`);
  }
  const old = await loadPair(join(dataDir, CA_KEY_FILE), join(dataDir, CA_CERT_FILE), passphrase);
  const retiredId = caIdOf(old.certificate);
  const dir = join(dataDir, RETIRED_CA_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const generation = (await loadRetiredCas(dataDir, passphrase)).length + 2;

  // The old key is re-encrypted with the current passphrase (ca.key may predate it).
  if (!(await createExclusive(join(dir, `${retiredId}.key`), keyPem(old.key, passphrase), 0o600))) {
    throw new CaKeyFileError(`${join(dir, `${retiredId}.key`)} exists: CA ${retiredId} was retired already (is another rollover running?)`);
  }
  await replaceFile(join(dir, `${retiredId}.pem`), toPem(old.certificate), 0o644);

  const retiredKeyType = keyTypeOfCertificate(old.certificate);
  const keyType = opts.keyType ?? ((CA_KEY_TYPES as readonly string[]).includes(retiredKeyType) ? (retiredKeyType as CaKeyType) : DEFAULT_CA_KEY);
  const key = await generateCaKey(keyType);
  const certificate = await createRoot(key, organization, `mdm-gateway Root CA ${generation}`);
  await replaceFile(join(dataDir, CA_KEY_FILE), keyPem(key, passphrase), 0o600);
  await replaceFile(join(dataDir, CA_CERT_FILE), toPem(certificate), 0o644);
  const root: KeyedCertificate = { certificate, key: softwareKey(key) };

  // The RA under the new root; the old RA becomes ra.previous.*.
  let ra: LoadedPair | null = null;
  try {
    ra = await loadPair(join(dataDir, RA_KEY_FILE), join(dataDir, RA_CERT_FILE), passphrase);
  } catch {
    ra = null; // unreadable: nothing worth keeping as the previous RA
  }
  await switchRa(dataDir, root, ra, { passphrase, organization });
  return { retiredId, currentId: caIdOf(certificate), rootPem: toPem(certificate), retiredKeyType, keyType };
}
