import 'reflect-metadata';
import { createPrivateKey, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { toPem } from '../pem.js';
import { readCertificate } from '../x509/cert-raw.js';
import { verifyIssuedBy } from '../x509/certificate-info.js';
import { caIdOf } from './ca-rollover.js';
import { CaImportError, certificatesInPem, chainPem, checkCaChain, type CaChain } from './ca-chain.js';
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  CaKeyFileError,
  createExclusive,
  createRoot,
  exists,
  DEFAULT_CA_KEY,
  generateCaKey,
  keyPem,
  replaceFile,
  ROOT_KEY_BITS,
  type TokenKeyPair,
  type CaKeyType,
} from './key-files.js';
import { softwareKey } from '../x509/software-key.js';
import { attribute, bitString, contextConstructed, integer, sequence } from '../x509/asn1/der.js';
import { basicConstraints, encodeExtension, keyUsage, signatureAlgorithm } from './certificate-builder.js';

// `mdmgw ca init` and `mdmgw ca import`: how a CA comes into a data directory.
//
//   ca init                 a self-signed root of our own (what `serve` makes on
//                           a first start when there is no CA at all)
//   ca init --subordinate   a key (ca.key) and a PKCS#10 request (ca.csr) for
//                           the enterprise CA; the gateway refuses to start
//                           until the signed certificate is imported
//   ca import               checks the signed certificate (ca-chain.ts) and
//                           installs it as ca.pem with ca-chain.pem (the
//                           intermediates and the enterprise root)
//
// `--name` selects a CA of the registry (registry.ts): `default` is the
// top-level ca.* of the data directory, any other name lives in cas/<name>/.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const CA_CSR_FILE = 'ca.csr';
export const CA_CHAIN_FILE = 'ca-chain.pem';
export const NAMED_CAS_DIR = 'cas';
export const DEFAULT_CA_NAME = 'default';
/** CA names: what a profile's `issuer` and GetCACert's message= carry. */
export const CA_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

export class CaSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaSetupError';
  }
}

/** Where the CA called `name` keeps its files. */
export function caDirFor(dataDir: string, name: string): string {
  if (!CA_NAME.test(name)) throw new CaSetupError(`CA name "${name}": use 1 to 32 lower-case letters, digits and '-'`);
  return name === DEFAULT_CA_NAME ? dataDir : join(dataDir, NAMED_CAS_DIR, name);
}

export interface InitOptions {
  subordinate?: boolean;
  /** The subordinate's subject, "CN=..., O=..." (RFC 4514 order as written). */
  subject?: string;
  passphrase?: string;
  organization?: string;
  /** The CA key's type (`--key`, MDMGW_CA_KEY); default rsa3072. */
  keyType?: CaKeyType;
}

export type InitResult = { kind: 'root'; caId: string; certFile: string } | { kind: 'subordinate'; csrFile: string; subject: string };

export async function refuseExisting(dir: string): Promise<void> {
  for (const f of [CA_KEY_FILE, CA_CERT_FILE, CA_CSR_FILE, 'keys.json']) {
    if (await exists(join(dir, f))) {
      throw new CaSetupError(`${join(dir, f)} exists: this CA is set up already; refusing to overwrite CA material (use another --name, or 'mdmgw ca rollover')`);
    }
  }
}

/** Parses "CN=x, O=y" into a DER Name; a clear error for anything else. */
export function subjectName(subject: string): x509.Name {
  let name: x509.Name;
  try {
    name = new x509.Name(subject);
  } catch (e) {
    throw new CaSetupError(`--subject "${subject}" is not a distinguished name like "CN=Contoso MDM Issuing CA, O=Contoso" (${(e as Error).message})`);
  }
  if (!name.toJSON().some((rdn) => Object.keys(rdn).some((k) => k === 'CN'))) {
    throw new CaSetupError(`--subject "${subject}" has no CN: name the CA (CN=...)`);
  }
  return name;
}

/**
 * The PKCS#10 request for the enterprise CA: our key, the subject, and an
 * extensionRequest asking for a CA certificate (basicConstraints CA:TRUE,
 * keyUsage keyCertSign + cRLSign, both critical). AD CS and `openssl ca
 * -extensions v3_ca` decide what they grant; `ca import` checks it.
 * Built here rather than by @peculiar/x509 so that a key in a PKCS#11 token
 * (which WebCrypto cannot reach) signs it the same way as a key file.
 */
export async function subordinateRequest(key: KeyObject | TokenKeyPair, subject: string): Promise<string> {
  const spki = 'spki' in key ? key.spki : new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
  const signer = 'spki' in key ? key.signer : softwareKey(key);
  const extensions = sequence(encodeExtension(basicConstraints(true)), encodeExtension(keyUsage(['digitalSignature', 'keyCertSign', 'cRLSign'])));
  const info = sequence(
    integer(0),
    new Uint8Array(subjectName(subject).toArrayBuffer()),
    spki,
    contextConstructed(0, attribute(OID_EXTENSION_REQUEST, extensions)),
  );
  const signature = await signer.sign(info, 'sha256');
  return toPem(sequence(info, signatureAlgorithm(signer.algorithm, 'sha256'), bitString(signature)), 'CERTIFICATE REQUEST');
}

/** PKCS#9 extensionRequest (RFC 2985). */
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

export async function initCa(dir: string, opts: InitOptions = {}): Promise<InitResult> {
  const passphrase = opts.passphrase || undefined;
  const organization = opts.organization ?? 'mdm-gateway';
  if (opts.subject !== undefined && !opts.subordinate) throw new CaSetupError('--subject applies to --subordinate only (our own root is "CN=mdm-gateway Root CA, O=<MDMGW_ORGANIZATION>")');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await refuseExisting(dir);
  if (opts.subordinate) {
    const subject = opts.subject ?? `CN=mdm-gateway Issuing CA, O=${organization}`;
    subjectName(subject); // before a key is made for nothing
    const key = await generateCaKey(opts.keyType ?? DEFAULT_CA_KEY);
    const csr = await subordinateRequest(key, subject);
    if (!(await createExclusive(join(dir, CA_KEY_FILE), keyPem(key, passphrase), 0o600))) throw new CaSetupError(`${join(dir, CA_KEY_FILE)} appeared meanwhile: another 'ca init' ran`);
    await replaceFile(join(dir, CA_CSR_FILE), csr, 0o644);
    return { kind: 'subordinate', csrFile: join(dir, CA_CSR_FILE), subject };
  }
  const key = await generateCaKey(opts.keyType ?? DEFAULT_CA_KEY);
  const certificate = await createRoot(key, organization);
  if (!(await createExclusive(join(dir, CA_KEY_FILE), keyPem(key, passphrase), 0o600))) throw new CaSetupError(`${join(dir, CA_KEY_FILE)} appeared meanwhile: another 'ca init' ran`);
  await replaceFile(join(dir, CA_CERT_FILE), toPem(certificate), 0o644);
  return { kind: 'root', caId: caIdOf(certificate), certFile: join(dir, CA_CERT_FILE) };
}

async function readKey(path: string, passphrase: string | undefined): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CaSetupError(`${path} is missing: run 'mdmgw ca init --subordinate' first`);
    throw e;
  }
  const encrypted = pem.includes('ENCRYPTED PRIVATE KEY');
  if (encrypted && !passphrase) throw new CaSetupError(`${path} is encrypted: set MDMGW_CA_PASSPHRASE to its passphrase`);
  try {
    return encrypted ? createPrivateKey({ key: pem, format: 'pem', passphrase: passphrase! }) : createPrivateKey(pem);
  } catch {
    throw new CaSetupError(encrypted ? `cannot decrypt ${path}: wrong passphrase (MDMGW_CA_PASSPHRASE)` : `${path} is not a readable PEM private key`);
  }
}

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new CaSetupError(`${flag} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

export interface ImportOptions {
  certFile: string;
  chainFile: string;
  passphrase?: string;
  now?: Date;
  /** The CA key's public key when the key is in a PKCS#11 token (pkcs11/token-subordinate.ts); else ca.key is read. */
  spki?: Uint8Array;
}

/**
 * Checks and installs the enterprise-signed certificate for the key in `dir`.
 * Nothing is written unless every check passed; ca.pem is written last (its
 * presence is what makes the CA usable) and never over an existing one.
 */
export async function importCa(dir: string, opts: ImportOptions): Promise<CaChain> {
  const passphrase = opts.passphrase || undefined;
  if (await exists(join(dir, CA_CERT_FILE))) {
    throw new CaSetupError(`${join(dir, CA_CERT_FILE)} exists: this CA has its certificate already (refusing to replace it)`);
  }
  const key = opts.spki ?? (await readKey(join(dir, CA_KEY_FILE), passphrase));
  const certs = certificatesInPem(await readText(opts.certFile, '--cert'), `--cert ${opts.certFile}`);
  if (certs.length !== 1) throw new CaSetupError(`--cert ${opts.certFile}: expected exactly one PEM certificate, found ${certs.length}`);
  const chain = certificatesInPem(await readText(opts.chainFile, '--chain'), `--chain ${opts.chainFile}`);
  if (chain.length === 0) throw new CaSetupError(`--chain ${opts.chainFile}: no PEM certificate in it (it must hold the issuing CA up to the self-signed root)`);
  const checked = await checkCaChain(certs[0]!, key, chain, opts.now);
  await replaceFile(join(dir, CA_CHAIN_FILE), chainPem(checked), 0o644);
  if (!(await createExclusive(join(dir, CA_CERT_FILE), toPem(checked.certificate), 0o644))) {
    throw new CaSetupError(`${join(dir, CA_CERT_FILE)} appeared meanwhile: another 'ca import' ran`);
  }
  return checked;
}

/** True while `dir` holds a subordinate's key and request but not yet its certificate. */
export async function awaitingImport(dir: string): Promise<boolean> {
  return (await exists(join(dir, CA_CSR_FILE))) && !(await exists(join(dir, CA_CERT_FILE)));
}

/** What `serve` says when a subordinate CA has not been imported yet. */
export function awaitingImportMessage(dir: string, name: string): string {
  const nameFlag = name === DEFAULT_CA_NAME ? '' : ` --name ${name}`;
  return (
    `the CA${name === DEFAULT_CA_NAME ? '' : ` "${name}"`} in ${dir} is a subordinate CA waiting for its certificate: have ${join(dir, CA_CSR_FILE)} signed by the enterprise CA, ` +
    `then run 'mdmgw ca import --data-dir <data dir>${nameFlag} --cert issued.pem --chain chain.pem' (chain.pem: the issuing CA up to the root)`
  );
}

/**
 * The chain above the CA certificate in `dir`: ca-chain.pem (written by
 * importCa), or nothing for a self-signed root. A CA certificate that is not
 * self-signed without a chain file, or a chain file that did not sign it,
 * stops the start: devices would be handed a root that does not fit.
 */
export async function loadCaChain(dir: string, certificate: Uint8Array): Promise<Pick<CaChain, 'intermediates' | 'root'>> {
  const file = join(dir, CA_CHAIN_FILE);
  if (!(await exists(file))) {
    if (await verifyIssuedBy(certificate, certificate)) return { intermediates: [], root: certificate };
    throw new CaKeyFileError(`${join(dir, CA_CERT_FILE)} is not self-signed and ${file} is missing: restore it, or import the certificate again with 'mdmgw ca import'`);
  }
  let chain: Uint8Array[];
  try {
    chain = certificatesInPem(await readFile(file, 'utf8'), file);
  } catch (e) {
    throw new CaKeyFileError(e instanceof CaImportError ? e.message : `${file}: ${(e as Error).message}`);
  }
  let below = certificate;
  for (const c of chain) {
    if (!(await verifyIssuedBy(below, c))) throw new CaKeyFileError(`${file} does not belong to ${join(dir, CA_CERT_FILE)}: certificate "${readableSubject(c)}" did not sign the one below it; import the certificate again`);
    below = c;
  }
  const root = chain.at(-1);
  if (!root || !(await verifyIssuedBy(root, root))) throw new CaKeyFileError(`${file} does not end at a self-signed root: import the certificate again`);
  return { intermediates: chain.slice(0, -1), root };
}

function readableSubject(der: Uint8Array): string {
  try {
    readCertificate(der);
    return new x509.X509Certificate(der).subject;
  } catch {
    return '(unreadable)';
  }
}
