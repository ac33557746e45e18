// A subordinate CA (of an enterprise root) whose keys are in a PKCS#11 token:
//
//   ca init --subordinate --pkcs11   generates the CA and RA keys in the token,
//                                    writes ca.csr signed in the token, and
//                                    keys.json; no ca.pem yet, so the gateway
//                                    refuses to start until the import
//   ca import                        checks the enterprise-signed certificate
//                                    against the token key's public key (ca-chain.ts),
//                                    installs ca.pem and ca-chain.pem, and
//                                    certifies the RA's token key under it (ra.pem)
//
// The same two steps as for key files (ca-setup.ts), with no private key on disk.

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toPem } from '../../pem.js';
import { certificatesInPem, type CaChain } from '../ca-chain.js';
import { readCertificate } from '../../x509/cert-raw.js';
import { CA_CSR_FILE, CaSetupError, importCa, refuseExisting, subjectName, subordinateRequest, type ImportOptions } from '../ca-setup.js';
import { createExclusive, createRa, RA_CERT_FILE, RA_KEY_BITS, replaceFile, ROOT_KEY_BITS } from '../key-files.js';
import { CA_KEY_LABEL, KEY_RECORD_FILE, keyRecordJson, RA_KEY_LABEL, readKeyRecord } from './key-record.js';
import { destroyTokenKey, generateTokenRsaKey, tokenKey } from './token-key.js';
import type { Pkcs11Token } from './token.js';

export interface TokenSubordinateOptions {
  subject: string;
  caKeyBits?: number;
  raKeyBits?: number;
}

/** Generates both keys in the token and writes ca.csr and keys.json; on any failure the keys it made are removed again. */
export async function initSubordinateInToken(dataDir: string, token: Pkcs11Token, o: TokenSubordinateOptions): Promise<{ csrFile: string; caLabel: string; raLabel: string }> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await refuseExisting(dataDir);
  subjectName(o.subject); // a bad --subject before any key is made
  const generated: string[] = [];
  try {
    const ca = await generateTokenRsaKey(token, CA_KEY_LABEL, o.caKeyBits ?? ROOT_KEY_BITS);
    generated.push(CA_KEY_LABEL);
    // The RA key now too: a token without room for it says so before the enterprise CA signs anything.
    await generateTokenRsaKey(token, RA_KEY_LABEL, o.raKeyBits ?? RA_KEY_BITS, { decrypt: true });
    generated.push(RA_KEY_LABEL);
    const csr = await subordinateRequest({ spki: ca.spki, signer: await tokenKey(token, CA_KEY_LABEL) }, o.subject);
    await replaceFile(join(dataDir, CA_CSR_FILE), csr, 0o644);
    if (!(await createExclusive(join(dataDir, KEY_RECORD_FILE), keyRecordJson(CA_KEY_LABEL, RA_KEY_LABEL), 0o600))) {
      throw new CaSetupError(`${join(dataDir, KEY_RECORD_FILE)} appeared while the keys were generated: another \`ca init\` ran on this data directory`);
    }
    return { csrFile: join(dataDir, CA_CSR_FILE), caLabel: CA_KEY_LABEL, raLabel: RA_KEY_LABEL };
  } catch (e) {
    for (const label of generated) await destroyTokenKey(token, label).catch(() => undefined);
    throw e;
  }
}

/** `ca import` for a data directory whose CA key is in the token: ca.pem, ca-chain.pem, then ra.pem for the RA's token key. */
export async function importSubordinateInToken(dataDir: string, token: Pkcs11Token, opts: Omit<ImportOptions, 'spki' | 'passphrase'> & { organization: string }): Promise<CaChain> {
  const record = (await readKeyRecord(dataDir))!;
  const caKey = await tokenKey(token, record.ca.pkcs11.label);
  const raKey = await tokenKey(token, record.ra.pkcs11.label);
  // The RA certificate is made (in the token) before ca.pem is installed: a token that fails here leaves the CA not imported, not half-imported.
  const candidate = await readCandidate(opts.certFile);
  const ra = candidate ? await createRa(raKey.spki, { certificate: candidate, key: caKey }, opts.organization) : null;
  const chain = await importCa(dataDir, { ...opts, spki: caKey.spki });
  await replaceFile(join(dataDir, RA_CERT_FILE), toPem(ra ?? (await createRa(raKey.spki, { certificate: chain.certificate, key: caKey }, opts.organization))), 0o600);
  return chain;
}

/** The one certificate in --cert, or null when it is not readable (importCa then says what is wrong with it). */
async function readCandidate(file: string): Promise<Uint8Array | null> {
  try {
    const certs = certificatesInPem(await readFile(file, 'utf8'), file);
    if (certs.length !== 1) return null;
    readCertificate(certs[0]!);
    return certs[0]!;
  } catch {
    return null;
  }
}
