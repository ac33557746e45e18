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
// When the CA's key is in a PKCS#11 token the responder key is generated in
// the token too and no ocsp-<caId>.key exists (pkcs11/token-responder-keys.ts).
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
/** After a failed rotation, try again this much later (the current certificate still has up to 10 days). */
export const ROTATION_RETRY_MS = 5 * 60 * 1000;
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

/**
 * Where a CA's responder key lives. The default keeps it in files next to the
 * CA's (below); a CA whose key is in a PKCS#11 token keeps its responder key
 * in the token too (pkcs11/token-responder-keys.ts).
 */
export interface ResponderKeyStore {
  /** The current key and certificate of `ca`'s responder; null when there is none yet (or the pair does not match). */
  load(ca: CertificateAuthority): Promise<{ certificate: Uint8Array; key: PrivateKeyOps } | null>;
  /** A new key; `commit` records it with its certificate as the current one (the previous one retires). */
  create(ca: CertificateAuthority): Promise<NewResponderKey>;
}

export interface NewResponderKey {
  spki: Uint8Array;
  key: PrivateKeyOps;
  commit(certificate: Uint8Array, replaced: Responder | null): Promise<void>;
}

export interface ResponderCertificateOptions {
  dataDir: string;
  passphrase?: string;
  organization?: string;
  log: Logger;
  now?: () => Date;
  /** The store for `ca`'s responder key; null (or no function) for key files. */
  keyStoreFor?: (ca: CertificateAuthority) => ResponderKeyStore | null;
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
  /** After a failed rotation, when to try again. */
  private readonly retryAt = new Map<string, number>();
  private readonly now: () => Date;
  private readonly files: ResponderKeyStore;

  constructor(private readonly opts: ResponderCertificateOptions) {
    this.now = opts.now ?? (() => new Date());
    this.files = fileResponderKeys(opts.dataDir, opts.passphrase);
  }

  /** The responder for `ca`; loads, creates or renews it first when needed (one at a time per CA). */
  async get(ca: CertificateAuthority): Promise<Responder> {
    const r = this.current.get(ca.id);
    if (r && (!this.due(r, ca) || this.waiting(r, ca.id))) return r;
    let p = this.pending.get(ca.id);
    if (!p) {
      p = this.loadOrCreate(ca).finally(() => this.pending.delete(ca.id));
      this.pending.set(ca.id, p);
    }
    let fresh: Responder;
    try {
      fresh = await p;
    } catch (e) {
      // A rotation that failed (the token unreachable, a full disk) while the current responder is still valid: keep answering with it, try again later.
      if (!r || r.notAfter.getTime() <= this.now().getTime() || e instanceof ResponderUnavailableError) throw e;
      this.retryAt.set(ca.id, this.now().getTime() + ROTATION_RETRY_MS);
      this.opts.log.warn({ caId: ca.id, reason: (e as Error).message, notAfter: r.notAfter.toISOString() }, 'OCSP responder rotation failed; the current responder certificate answers until a later attempt succeeds');
      return r;
    }
    this.retryAt.delete(ca.id);
    this.current.set(ca.id, fresh);
    return fresh;
  }

  /** A failed rotation is not retried on every request, only after ROTATION_RETRY_MS (while the responder lasts). */
  private waiting(r: Responder, caId: string): boolean {
    const now = this.now().getTime();
    return (this.retryAt.get(caId) ?? 0) > now && r.notAfter.getTime() > now;
  }

  /** Renewal is due, unless it already lasts as long as the CA does (a new one would not last longer). */
  private due(r: Responder, ca: CertificateAuthority): boolean {
    return needsRenewal(r, this.now()) && (r.notAfter.getTime() < ca.notAfter.getTime() || r.notAfter.getTime() <= this.now().getTime());
  }

  private async loadOrCreate(ca: CertificateAuthority): Promise<Responder> {
    const store = this.opts.keyStoreFor?.(ca) ?? this.files;
    const pair = await store.load(ca);
    const loaded = pair && (await verifyIssuedBy(pair.certificate, ca.certificate)) ? responderOf(ca.id, pair.certificate, pair.key) : null;
    if (loaded && !this.due(loaded, ca)) return loaded;
    const window = this.validity(ca);
    const fresh = await store.create(ca);
    const certificate = await this.issue(ca, fresh.spki, window);
    await fresh.commit(certificate, loaded);
    const created = responderOf(ca.id, certificate, fresh.key);
    this.opts.log.info(
      { caId: ca.id, notAfter: created.notAfter.toISOString(), replaced: loaded ? loaded.notAfter.toISOString() : null },
      loaded ? 'rotated the OCSP responder certificate' : 'issued an OCSP responder certificate',
    );
    return created;
  }

  /** The new certificate's validity: RESPONDER_VALIDITY_DAYS, capped by the CA's; refused for an expired CA before any key is made. */
  private validity(ca: CertificateAuthority): { notBefore: Date; notAfter: Date } {
    const notBefore = new Date(Math.floor((this.now().getTime() - SKEW_MS) / 1000) * 1000);
    const notAfter = new Date(Math.min(notBefore.getTime() + RESPONDER_VALIDITY_DAYS * DAY_MS, ca.notAfter.getTime()));
    if (notAfter.getTime() <= this.now().getTime()) {
      throw new ResponderUnavailableError(`CA ${ca.id} has expired; it no longer answers OCSP`);
    }
    return { notBefore, notAfter };
  }

  private async issue(ca: CertificateAuthority, spki: Uint8Array, { notBefore, notAfter }: { notBefore: Date; notAfter: Date }): Promise<Uint8Array> {
    const caCert = readCertificate(ca.certificate);
    return buildCertificate({
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
  }
}

/** Software responder keys: ocsp-<caId>.key (encrypted with the passphrase when there is one) and ocsp-<caId>.pem. */
function fileResponderKeys(dataDir: string, passphrase: string | undefined): ResponderKeyStore {
  return {
    async load(ca) {
      const keyPath = join(dataDir, responderKeyFile(ca.id));
      let keyText: string;
      let certText: string;
      try {
        [keyText, certText] = await Promise.all([readFile(keyPath, 'utf8'), readFile(join(dataDir, responderCertFile(ca.id)), 'utf8')]);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
      // A wrong passphrase is an error, not a reason to replace the key.
      const key = readKey(keyPath, keyText, passphrase);
      let certificate: Uint8Array;
      try {
        certificate = new Uint8Array(new X509Certificate(certText).raw);
      } catch {
        return null;
      }
      const spki = new Uint8Array(createPublicKey(key).export({ type: 'spki', format: 'der' }));
      if (!Buffer.from(spki).equals(Buffer.from(readCertificate(certificate).spki))) return null;
      return { certificate, key: softwareKey(key) };
    },
    async create(ca) {
      // Same family as the CA: a P-256 CA gets a P-256 responder (every relying
      // party that took the CA's ECDSA chain takes ECDSA responses, and they cost less to sign).
      const keyObject = ca.root.key.algorithm === 'EC' ? await generateP256() : await generateRsa(RESPONDER_KEY_BITS);
      return {
        spki: new Uint8Array(createPublicKey(keyObject).export({ type: 'spki', format: 'der' })),
        key: softwareKey(keyObject),
        // Key first, then certificate; each replaced atomically. A crash between
        // the two leaves a mismatched pair, which the next load replaces.
        async commit(certificate) {
          await replaceFile(join(dataDir, responderKeyFile(ca.id)), keyPem(keyObject, passphrase));
          await replaceFile(join(dataDir, responderCertFile(ca.id)), toPem(certificate));
        },
      };
    },
  };
}

function responderOf(caId: string, certificate: Uint8Array, key: PrivateKeyOps): Responder {
  const raw = readCertificate(certificate);
  return {
    caId,
    certificate,
    key,
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
