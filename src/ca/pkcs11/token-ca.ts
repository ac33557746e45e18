// The CA and the SCEP RA with their keys in a PKCS#11 token.
//
// `mdmgw ca init --pkcs11` (initCaInToken) generates both key pairs inside the
// token (CA RSA-3072, RA RSA-2048, as for software keys: key-files.ts says
// why), writes ca.pem and ra.pem, and records in keys.json that the keys are
// in the token. `serve` (loadTokenCa) finds them by label and checks that
// each matches its certificate.
//
// RA renewal: a software RA gets a new key before it expires (ra-renewal.ts).
// A token RA keeps its key and gets a new certificate for it instead
// (TokenRaKeeper: RaKeeper with the sameKeyRenewal strategy): clients that still hold the old RA certificate encrypt to
// the same key, so no ra.previous/ra.next pair is needed, and no key material
// is ever generated outside the token. The OCSP responder key of a token CA
// is generated in the token too (token-responder-keys.ts).

import { X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toPem } from '../../pem.js';
import type { KeyedCertificate } from '../../x509/keys.js';
import { parseTime, readCertificate } from '../../x509/cert-raw.js';
import { verifyIssuedBy } from '../../x509/certificate-info.js';
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  CaKeyFileError,
  createExclusive,
  createRa,
  createRoot,
  exists,
  RA_CERT_FILE,
  RA_KEY_BITS,
  RA_RENEW_BEFORE_DAYS,
  replaceFile,
  ROOT_KEY_BITS,
} from '../key-files.js';
import { CA_KEY_LABEL, KEY_RECORD_FILE, keyRecordJson, RA_KEY_LABEL, type KeyRecord } from './key-record.js';
import { destroyTokenKey, generateTokenRsaKey, tokenKey } from './token-key.js';
import type { Pkcs11Token } from './token.js';
import { RaKeeper, type RaEvent, type RaRenewalStrategy } from '../ra-renewal.js';

const DAY_MS = 86_400_000;

export interface TokenCaInitOptions {
  organization: string;
  caKeyBits?: number;
  raKeyBits?: number;
}

export interface TokenCaInitResult {
  caCertificate: Uint8Array;
  raCertificate: Uint8Array;
  caLabel: string;
  raLabel: string;
}

/**
 * Generates the CA and RA keys in the token and writes ca.pem, ra.pem and
 * keys.json (last: a data directory without it has no CA yet). Refuses a data
 * directory that has a CA, and a token that already has keys with these
 * labels; on any failure the keys it generated are removed again.
 */
export async function initCaInToken(dataDir: string, token: Pkcs11Token, o: TokenCaInitOptions): Promise<TokenCaInitResult> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  for (const f of [KEY_RECORD_FILE, CA_KEY_FILE, CA_CERT_FILE, 'ca.csr']) {
    if (await exists(join(dataDir, f))) throw new CaKeyFileError(`${dataDir} already has a CA (${f}): \`ca init\` needs a new data directory`);
  }
  const generated: string[] = [];
  try {
    const caInfo = await generateTokenRsaKey(token, CA_KEY_LABEL, o.caKeyBits ?? ROOT_KEY_BITS);
    generated.push(CA_KEY_LABEL);
    // Only the RA decrypts (SCEP envelopes); the CA key can do nothing but sign.
    const raInfo = await generateTokenRsaKey(token, RA_KEY_LABEL, o.raKeyBits ?? RA_KEY_BITS, { decrypt: true });
    generated.push(RA_KEY_LABEL);
    const caKey = await tokenKey(token, CA_KEY_LABEL);
    const caCertificate = await createRoot({ spki: caInfo.spki, signer: caKey }, o.organization);
    const raCertificate = await createRa(raInfo.spki, { certificate: caCertificate, key: caKey }, o.organization);
    await replaceFile(join(dataDir, CA_CERT_FILE), toPem(caCertificate), 0o600);
    await replaceFile(join(dataDir, RA_CERT_FILE), toPem(raCertificate), 0o600);
    if (!(await createExclusive(join(dataDir, KEY_RECORD_FILE), keyRecordJson(CA_KEY_LABEL, RA_KEY_LABEL), 0o600))) {
      throw new CaKeyFileError(`${join(dataDir, KEY_RECORD_FILE)} appeared while the keys were generated: another \`ca init\` ran on this data directory`);
    }
    return { caCertificate, raCertificate, caLabel: CA_KEY_LABEL, raLabel: RA_KEY_LABEL };
  } catch (e) {
    // Only the labels we generated here: an existing key (the "already holds" refusal) is never touched.
    for (const label of generated) await destroyTokenKey(token, label).catch(() => undefined);
    throw e;
  }
}

async function readCertificateFile(path: string): Promise<Uint8Array> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CaKeyFileError(`${path} is missing while keys.json says its key is in the PKCS#11 token; restore it from backup`);
    throw e;
  }
  try {
    return new Uint8Array(new X509Certificate(pem).raw);
  } catch (e) {
    throw new CaKeyFileError(`${path} is not a PEM certificate: ${(e as Error).message}`, { cause: e });
  }
}

/** The token key labelled `label`, checked against the certificate in `certPath`. */
export async function tokenPair(token: Pkcs11Token, label: string, certPath: string): Promise<KeyedCertificate> {
  const certificate = await readCertificateFile(certPath);
  const key = await tokenKey(token, label);
  if (!Buffer.from(key.spki).equals(Buffer.from(readCertificate(certificate).spki))) {
    throw new CaKeyFileError(`the key "${label}" in the PKCS#11 ${token.name} does not belong to the certificate in ${certPath}: wrong token, or a restored certificate of another CA?`);
  }
  return { certificate, key };
}

export interface TokenCa {
  root: KeyedCertificate;
  ra: KeyedCertificate;
  /** True when ra.pem was re-issued (for the same token key) by this load. */
  raReissued: boolean;
}

/** The CA and RA of a keys.json data directory; the RA is re-certified when it is due. */
export async function loadTokenCa(dataDir: string, token: Pkcs11Token, record: KeyRecord, o: { organization: string; now?: () => Date }): Promise<TokenCa> {
  const root = await tokenPair(token, record.ca.pkcs11.label, join(dataDir, CA_CERT_FILE));
  let ra = await tokenPair(token, record.ra.pkcs11.label, join(dataDir, RA_CERT_FILE));
  const now = (o.now ?? (() => new Date()))().getTime();
  const raReissued = (await raDueAt(ra, root)) <= now;
  if (raReissued) ra = await recertifyRa(dataDir, ra, root, o.organization);
  return { root, ra, raReissued };
}

/** When the RA needs a new certificate: RA_RENEW_BEFORE_DAYS before it expires, or at once when another CA issued it. */
async function raDueAt(ra: KeyedCertificate, root: KeyedCertificate): Promise<number> {
  if (!(await verifyIssuedBy(ra.certificate, root.certificate))) return 0;
  return parseTime(readCertificate(ra.certificate).notAfter).getTime() - RA_RENEW_BEFORE_DAYS * DAY_MS;
}

/** A new RA certificate for the same token key, written atomically to ra.pem. */
async function recertifyRa(dataDir: string, ra: KeyedCertificate, root: KeyedCertificate, organization: string): Promise<KeyedCertificate> {
  const spki = readCertificate(ra.certificate).spki;
  const certificate = await createRa(spki, root, organization);
  await replaceFile(join(dataDir, RA_CERT_FILE), toPem(certificate), 0o600);
  return { certificate, key: ra.key };
}

export interface TokenRaKeeperOptions {
  dataDir: string;
  root: KeyedCertificate;
  organization: string;
  now?: () => Date;
  onEvent?: (event: RaEvent, fields: Record<string, unknown>) => void;
}

/**
 * RaKeeper's strategy for a token RA: RA_RENEW_BEFORE_DAYS before its
 * certificate expires, a new certificate for the same token key. The key never
 * changes, so there is no previous or next RA.
 */
export function sameKeyRenewal(o: Pick<TokenRaKeeperOptions, 'dataDir' | 'root' | 'organization'>): RaRenewalStrategy {
  return {
    dueAt: (keys) => parseTime(readCertificate(keys.ra.certificate).notAfter).getTime() - RA_RENEW_BEFORE_DAYS * DAY_MS,
    async step(keys, now) {
      // Another instance on this data directory may have re-certified already: adopt its certificate.
      const onDisk = await readCertificateFile(join(o.dataDir, RA_CERT_FILE));
      const sameKey = Buffer.from(readCertificate(onDisk).spki).equals(Buffer.from(readCertificate(keys.ra.certificate).spki));
      const adopted = { certificate: onDisk, key: keys.ra.key };
      const ra = sameKey && (await raDueAt(adopted, o.root)) > now ? adopted : await recertifyRa(o.dataDir, keys.ra, o.root, o.organization);
      return { keys: { ra, previousRa: null, nextRa: null }, events: [['ra-recertified', { notAfter: parseTime(readCertificate(ra.certificate).notAfter).toISOString() }]] };
    },
  };
}

/** The RaKeeper of a token RA (same keys()/peek() as for key files). */
export class TokenRaKeeper extends RaKeeper {
  constructor(o: TokenRaKeeperOptions, ra: KeyedCertificate) {
    super({ dataDir: o.dataDir, root: o.root, organization: o.organization, now: o.now, onEvent: o.onEvent }, { ra, previousRa: null, nextRa: null }, sameKeyRenewal(o));
  }
}
