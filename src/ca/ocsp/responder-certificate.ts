// The delegated OCSP responder certificate of each CA (RFC 6960 4.2.2.2):
// issued by that CA, EKU id-kp-OCSPSigning, id-pkix-ocsp-nocheck (relying
// parties do not ask for its own status), keyUsage digitalSignature, no
// AIA/CDP. Responses are signed with its key, so the CA key signs only once a
// rotation instead of once per response (and could sit in a token).
//
// Files, next to the CA's in the data directory (mode 0600; the key encrypted
// with MDMGW_CA_PASSPHRASE like the CA key):
//
//   ocsp-<caId>.key / ocsp-<caId>.pem
//
// It lives RESPONDER_VALIDITY_DAYS and is replaced (new key too) once less
// than a third of that is left; that is checked on every use, not only at
// start, so a gateway that runs for months rotates it by itself.

import { createHash, createPrivateKey, createPublicKey, generateKeyPair, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { toPem } from '../../pem.js';
import { parseTime, readCertificate } from '../../x509/cert-raw.js';
import { verifyIssuedBy } from '../../x509/certificate-info.js';
import type { PrivateKeyOps } from '../../x509/keys.js';
import { encodeName } from '../../x509/names.js';
import { softwareKey } from '../../x509/software-key.js';
import { nullValue } from '../../x509/asn1/der.js';
import type { CertificateAuthority } from '../authority.js';
import {
  authorityKeyIdentifier,
  basicConstraints,
  buildCertificate,
  extendedKeyUsage,
  keyIdentifierFor,
  keyUsage,
  publicKeyBits,
  subjectKeyIdentifier,
} from '../certificate-builder.js';
import { randomSerialNumber } from '../serial.js';

export const RESPONDER_VALIDITY_DAYS = 30;
export const RESPONDER_KEY_BITS = 2048;
export const OID_KP_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';
export const OID_OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5';

const DAY_MS = 86_400_000;
const SKEW_MS = 5 * 60 * 1000;

export const responderKeyFile = (caId: string): string => `ocsp-${caId}.key`;
export const responderCertFile = (caId: string): string => `ocsp-${caId}.pem`;

/** A CA whose certificate has expired cannot delegate any more: nothing of its issuing is still valid. */
export class ResponderUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResponderUnavailableError';
  }
}

export interface Responder {
  caId: string;
  certificate: Uint8Array;
  key: PrivateKeyOps;
  /** SHA-1 of the responder key's subjectPublicKey bits: ResponderID byKey. */
  keyHash: Uint8Array;
  notBefore: Date;
  notAfter: Date;
}

export interface ResponderCertificateOptions {
  dataDir: string;
  passphrase?: string;
  organization?: string;
  log: Logger;
  now?: () => Date;
}

/** Whether `r` has less than a third of its life left at `now` (or is past it). */
export function needsRenewal(r: Pick<Responder, 'notBefore' | 'notAfter'>, now: Date): boolean {
  const life = r.notAfter.getTime() - r.notBefore.getTime();
  return now.getTime() >= r.notAfter.getTime() - life / 3;
}

/** The responder of every CA: loaded or created on first use, renewed on use when due. */
export class ResponderCertificates {
  private readonly current = new Map<string, Responder>();
  private readonly pending = new Map<string, Promise<Responder>>();
  private readonly now: () => Date;

  constructor(private readonly opts: ResponderCertificateOptions) {
    this.now = opts.now ?? (() => new Date());
  }

  /** The responder for `ca`; loads, creates or renews it first when needed (one at a time per CA). */
  async get(ca: CertificateAuthority): Promise<Responder> {
    const r = this.current.get(ca.id);
    if (r && !this.due(r, ca)) return r;
    let p = this.pending.get(ca.id);
    if (!p) {
      p = this.loadOrCreate(ca).finally(() => this.pending.delete(ca.id));
      this.pending.set(ca.id, p);
    }
    const fresh = await p;
    this.current.set(ca.id, fresh);
    return fresh;
  }

  /** Renewal is due, unless it already lasts as long as the CA does (a new one would not last longer). */
  private due(r: Responder, ca: CertificateAuthority): boolean {
    return needsRenewal(r, this.now()) && (r.notAfter.getTime() < ca.notAfter.getTime() || r.notAfter.getTime() <= this.now().getTime());
  }

  private async loadOrCreate(ca: CertificateAuthority): Promise<Responder> {
    const keyPath = join(this.opts.dataDir, responderKeyFile(ca.id));
    const certPath = join(this.opts.dataDir, responderCertFile(ca.id));
    const loaded = await this.load(ca, keyPath, certPath);
    if (loaded && !this.due(loaded, ca)) return loaded;
    const created = await this.issue(ca);
    // Key first, then certificate; each replaced atomically. A crash between
    // the two leaves a mismatched pair, which the next load replaces.
    await replaceFile(keyPath, keyPem(created.keyObject, this.opts.passphrase));
    await replaceFile(certPath, toPem(created.responder.certificate));
    this.opts.log.info(
      { caId: ca.id, notAfter: created.responder.notAfter.toISOString(), replaced: loaded ? loaded.notAfter.toISOString() : null },
      loaded ? 'rotated the OCSP responder certificate' : 'issued an OCSP responder certificate',
    );
    return created.responder;
  }

  /** The pair on disk, or null when missing, mismatched or not issued by `ca`. A wrong passphrase is an error. */
  private async load(ca: CertificateAuthority, keyPath: string, certPath: string): Promise<Responder | null> {
    let keyText: string;
    let certText: string;
    try {
      [keyText, certText] = await Promise.all([readFile(keyPath, 'utf8'), readFile(certPath, 'utf8')]);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    const key = readKey(keyPath, keyText, this.opts.passphrase);
    let certificate: Uint8Array;
    try {
      certificate = new Uint8Array(new X509Certificate(certText).raw);
    } catch {
      return null;
    }
    const spki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
    if (!Buffer.from(spki).equals(Buffer.from(readCertificate(certificate).spki))) return null;
    if (!(await verifyIssuedBy(certificate, ca.certificate))) return null;
    return responderOf(ca.id, certificate, key);
  }

  private async issue(ca: CertificateAuthority): Promise<{ responder: Responder; keyObject: KeyObject }> {
    const notBefore = new Date(Math.floor((this.now().getTime() - SKEW_MS) / 1000) * 1000);
    const notAfter = new Date(Math.min(notBefore.getTime() + RESPONDER_VALIDITY_DAYS * DAY_MS, ca.notAfter.getTime()));
    if (notAfter.getTime() <= this.now().getTime()) {
      throw new ResponderUnavailableError(`CA ${ca.id} has expired; it no longer answers OCSP`);
    }
    // Same family as the CA: a P-256 CA gets a P-256 responder (every relying
    // party that took the CA's ECDSA chain takes ECDSA responses, and they cost less to sign).
    const keyObject = ca.root.key.algorithm === 'EC' ? await generateP256() : await generateRsa(RESPONDER_KEY_BITS);
    const spki = new Uint8Array(createPublicKey(keyObject).export({ type: 'spki', format: 'der' }));
    const caCert = readCertificate(ca.certificate);
    const certificate = await buildCertificate({
      serialNumber: randomSerialNumber(),
      issuerName: caCert.subjectName,
      subjectName: encodeName([
        { type: 'CN', value: 'mdm-gateway OCSP Responder' },
        { type: 'O', value: this.opts.organization ?? 'mdm-gateway' },
      ]),
      notBefore,
      notAfter,
      spki,
      extensions: [
        basicConstraints(false),
        keyUsage(['digitalSignature']),
        extendedKeyUsage([OID_KP_OCSP_SIGNING]),
        { oid: OID_OCSP_NOCHECK, critical: false, value: nullValue() },
        // The CA's own SKI bytes (its id), as in every certificate it signs.
        authorityKeyIdentifier(Buffer.from(ca.id, 'hex')),
        subjectKeyIdentifier(keyIdentifierFor(spki)),
      ],
      hash: 'sha256',
      signer: ca.root.key,
    });
    return { responder: responderOf(ca.id, certificate, keyObject), keyObject };
  }
}

function responderOf(caId: string, certificate: Uint8Array, key: KeyObject): Responder {
  const raw = readCertificate(certificate);
  return {
    caId,
    certificate,
    key: softwareKey(key),
    keyHash: new Uint8Array(createHash('sha1').update(publicKeyBits(raw.spki)).digest()),
    notBefore: parseTime(raw.notBefore),
    notAfter: parseTime(raw.notAfter),
  };
}

function readKey(path: string, pem: string, passphrase: string | undefined): KeyObject {
  const encrypted = pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
  if (encrypted && !passphrase) throw new Error(`${path} is encrypted: set MDMGW_CA_PASSPHRASE to its passphrase`);
  try {
    return encrypted ? createPrivateKey({ key: pem, format: 'pem', passphrase: passphrase! }) : createPrivateKey(pem);
  } catch (e) {
    throw new Error(`cannot read ${path}${encrypted ? ': wrong passphrase (MDMGW_CA_PASSPHRASE)' : ''}`, { cause: e });
  }
}

function keyPem(key: KeyObject, passphrase: string | undefined): string {
  return String(
    passphrase ? key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) : key.export({ type: 'pkcs8', format: 'pem' }),
  );
}

function generateP256(): Promise<KeyObject> {
  return new Promise((resolve, reject) => {
    generateKeyPair('ec', { namedCurve: 'prime256v1' }, (err, _pub, priv) => (err ? reject(err) : resolve(priv)));
  });
}

function generateRsa(bits: number): Promise<KeyObject> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: bits, publicExponent: 0x10001 }, (err, _pub, priv) => (err ? reject(err) : resolve(priv)));
  });
}

async function replaceFile(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomSerialNumber().slice(0, 12)}`;
  await writeFile(tmp, data, { mode: 0o600, flag: 'wx' });
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
