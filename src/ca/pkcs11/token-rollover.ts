// `mdmgw ca rollover` for a CA whose key is in a PKCS#11 token (keys.json).
// The same outcome as for key files (ca-rollover.ts), with every key staying
// in the token:
//
//   - the new CA key is generated in the token, labelled mdmgw-ca-<generation>
//     (2 for the first rollover), and signs its own root certificate;
//   - the old CA key stays in the token under its label; its certificate goes
//     to ca-retired/<caId>.pem (no .key file) and keys.json lists it under
//     `retiredCas`, so the gateway keeps signing that CA's CRL and OCSP
//     responder certificate with it until its last certificate expires;
//   - the RA keeps its token key and gets a certificate from the new CA at
//     once (clients that fetched the old RA certificate encrypt to the same key).

import { mkdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { toPem } from '../../pem.js';
import type { KeyedCertificate } from '../../x509/keys.js';
import { parseTime, readCertificate } from '../../x509/cert-raw.js';
import { caIdOf, RETIRED_CA_DIR, type RolloverResult } from '../ca-rollover.js';
import { CA_CERT_FILE, CaKeyFileError, createExclusive, createRa, createRoot, exists, keyTypeOfCertificate, RA_CERT_FILE, replaceFile, ROOT_KEY_BITS } from '../key-files.js';
import { CA_KEY_LABEL, readKeyRecord, updateKeyRecord, type KeyRecord } from './key-record.js';
import { tokenPair } from './token-ca.js';
import { destroyTokenKey, generateTokenRsaKey, tokenKey } from './token-key.js';
import type { Pkcs11Token } from './token.js';

/** The CAs retired by token rollovers (keys.json `retiredCas`), newest first, each key checked against its certificate. */
export async function loadRetiredTokenCas(dataDir: string, token: Pkcs11Token, record: KeyRecord): Promise<KeyedCertificate[]> {
  const cas: { ca: KeyedCertificate; notBefore: number }[] = [];
  for (const [id, ref] of Object.entries(record.retiredCas ?? {})) {
    const ca = await tokenPair(token, ref.pkcs11.label, join(dataDir, RETIRED_CA_DIR, `${id}.pem`));
    if (caIdOf(ca.certificate) !== id) throw new CaKeyFileError(`${join(dataDir, RETIRED_CA_DIR, `${id}.pem`)} holds CA ${caIdOf(ca.certificate)}, not ${id}: restore the file from backup`);
    cas.push({ ca, notBefore: parseTime(readCertificate(ca.certificate).notBefore).getTime() });
  }
  return cas.sort((a, b) => b.notBefore - a.notBefore).map((c) => c.ca);
}

/**
 * Retires the token CA of `dataDir` and makes a new one in the same token.
 * Order, for a failure half-way: the old certificate is saved under
 * ca-retired/ first; a failed key generation or certificate removes the new
 * key again and changes nothing else; keys.json (which key is the CA) is
 * changed in one atomic write before ca.pem and ra.pem are replaced.
 */
export async function rollOverTokenCa(dataDir: string, token: Pkcs11Token, opts: { organization?: string } = {}): Promise<RolloverResult> {
  const organization = opts.organization ?? 'mdm-gateway';
  if (await exists(join(dataDir, 'ca-chain.pem'))) {
    throw new CaKeyFileError(`the CA in ${dataDir} is a subordinate of an enterprise root (ca-chain.pem): a rollover would replace it with a self-signed root; renew it with the enterprise CA instead (docs/enterprise-pki.md)`);
  }
  const record = (await readKeyRecord(dataDir))!;
  const old = await tokenPair(token, record.ca.pkcs11.label, join(dataDir, CA_CERT_FILE));
  const retiredId = caIdOf(old.certificate);
  if (record.retiredCas?.[retiredId]) throw new CaKeyFileError(`CA ${retiredId} is listed as retired in keys.json already (is another rollover running?)`);
  const ra = await tokenPair(token, record.ra.pkcs11.label, join(dataDir, RA_CERT_FILE));
  const generation = Object.keys(record.retiredCas ?? {}).length + 2;
  const label = `${CA_KEY_LABEL}-${generation}`;

  const dir = join(dataDir, RETIRED_CA_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!(await createExclusive(join(dir, `${retiredId}.pem`), toPem(old.certificate), 0o644))) {
    throw new CaKeyFileError(`${join(dir, `${retiredId}.pem`)} exists: CA ${retiredId} was retired already (is another rollover running?)`);
  }
  let root: KeyedCertificate;
  let raCertificate: Uint8Array;
  let generated = false;
  try {
    // The token refuses a label it holds already, and says so when it has no room (CKR_DEVICE_MEMORY).
    const info = await generateTokenRsaKey(token, label, ROOT_KEY_BITS);
    generated = true;
    const key = await tokenKey(token, label);
    const certificate = await createRoot({ spki: info.spki, signer: key }, organization, `mdm-gateway Root CA ${generation}`);
    root = { certificate, key };
    raCertificate = await createRa(readCertificate(ra.certificate).spki, root, organization);
  } catch (e) {
    // Nothing changed: the CA is still the old one, and a second attempt may run.
    if (generated) await destroyTokenKey(token, label).catch(() => undefined);
    await unlink(join(dir, `${retiredId}.pem`)).catch(() => undefined);
    await rmdir(dir).catch(() => undefined); // only when empty: it was made here
    throw e;
  }
  await updateKeyRecord(dataDir, (r) => ({ ...r, ca: { pkcs11: { label } }, retiredCas: { ...r.retiredCas, [retiredId]: { pkcs11: { label: r.ca.pkcs11.label } } } }));
  await replaceFile(join(dataDir, CA_CERT_FILE), toPem(root.certificate), 0o644);
  await replaceFile(join(dataDir, RA_CERT_FILE), toPem(raCertificate), 0o600);
  // A token CA is RSA-3072 (generateTokenRsaKey): so are the old one and the new one.
  return { retiredId, currentId: caIdOf(root.certificate), rootPem: toPem(root.certificate), retiredKeyType: keyTypeOfCertificate(old.certificate), keyType: 'rsa3072' };
}
