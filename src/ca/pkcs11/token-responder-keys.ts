// The OCSP responder key of a CA whose key is in a PKCS#11 token: generated
// in the same token (RSA-2048, sensitive, not extractable, sign only), so no
// ocsp-<caId>.key is ever written. The certificate stays a file
// (ocsp-<caId>.pem, public) and keys.json records which token key belongs to
// it, by label:
//
//   "ocsp": { "<caId>": { "pkcs11": { "label": "mdmgw-ocsp-<caId>-<random>" }, "retired": [...] } }
//
// Each rotation generates a new key under a new label. The old key is not
// destroyed at once: another instance on the same data directory, or a
// response being signed right now, may still use it. It is listed as retired
// until its certificate expires (nothing can sign a valid answer with it
// after that) and destroyed by the first rotation or start after that time.

import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { readCertificate } from '../../x509/cert-raw.js';
import { toPem } from '../../pem.js';
import type { CertificateAuthority } from '../authority.js';
import { replaceFile } from '../key-files.js';
import { RESPONDER_KEY_BITS, RESPONDER_VALIDITY_DAYS, responderCertFile, type ResponderKeyStore } from '../ocsp/responder-certificate.js';
import type { CaKeys } from './ca-keys.js';
import { readKeyRecord, updateKeyRecord, type KeyRecord } from './key-record.js';
import { destroyTokenKey, generateTokenRsaKey, tokenKey } from './token-key.js';
import { TokenError, type Pkcs11Token } from './token.js';

/** A new label per key (labels are at most 64 characters in keys.json; CA ids are cut to 32 hex digits). */
export const responderKeyLabel = (caId: string): string => `mdmgw-ocsp-${caId.slice(0, 32)}-${randomBytes(4).toString('hex')}`;

type OcspEntry = NonNullable<KeyRecord['ocsp']>[string];

export interface TokenResponderKeyOptions {
  dataDir: string;
  token: Pkcs11Token;
  log: Logger;
  now?: () => Date;
}

export function tokenResponderKeys(o: TokenResponderKeyOptions): ResponderKeyStore {
  const now = o.now ?? (() => new Date());
  const certPath = (caId: string) => join(o.dataDir, responderCertFile(caId));
  return {
    async load(ca) {
      const entry = (await readKeyRecord(o.dataDir))?.ocsp?.[ca.id];
      if (entry) await destroyExpired(o, ca.id, entry, now());
      const certificate = await readCertificateFile(certPath(ca.id));
      // No entry yet (first start of this CA), or the certificate was removed (the operator's way to ask for a new key): make one.
      if (!entry || !certificate) return null;
      // A recorded key missing from the token is an error, not a reason for a new key: the wrong token, or keys removed behind our back.
      const key = await tokenKey(o.token, entry.pkcs11.label).catch((e: unknown) => {
        throw new TokenError(
          `the OCSP responder key "${entry.pkcs11.label}" of CA ${ca.id} (keys.json) is not in the PKCS#11 ${o.token.name}: check MDMGW_PKCS11_TOKEN_LABEL; to have a new one generated, remove ${certPath(ca.id)}`,
          e instanceof TokenError ? e.ckr : null,
          { cause: e },
        );
      });
      // A crash between keys.json and the certificate (commit below) leaves them apart: a new key then replaces both.
      // (Several instances on one token each keep their own keys.json, which the shared key store does not carry: docs/hsm.md.)
      if (!Buffer.from(key.spki).equals(Buffer.from(readCertificate(certificate).spki))) return null;
      return { certificate, key };
    },
    async create(ca: CertificateAuthority) {
      const label = responderKeyLabel(ca.id);
      const info = await generateTokenRsaKey(o.token, label, RESPONDER_KEY_BITS);
      const key = await tokenKey(o.token, label);
      return {
        spki: info.spki,
        key,
        async commit(certificate, replaced) {
          // keys.json first: a crash before the certificate is written leaves a key that the next start retires (mismatch above).
          await updateKeyRecord(o.dataDir, (r) => {
            const old = r.ocsp?.[ca.id];
            const retired = [...(old?.retired ?? [])];
            // The old key may sign until its certificate ends. Without a matching certificate here its end is not known
            // (a crash before the certificate was written; another instance's certificate arrived): keep it a full validity.
            const until = replaced?.notAfter ?? new Date(now().getTime() + RESPONDER_VALIDITY_DAYS * 86_400_000);
            if (old) retired.push({ label: old.pkcs11.label, until: until.toISOString() });
            return { ...r, ocsp: { ...r.ocsp, [ca.id]: { pkcs11: { label }, ...(retired.length ? { retired } : {}) } } };
          });
          await replaceFile(certPath(ca.id), toPem(certificate), 0o600);
          o.log.info({ caId: ca.id, label, pkcs11: o.token.name }, 'generated the OCSP responder key in the PKCS#11 token');
        },
      };
    },
  };
}

/** Destroys the retired responder keys of `caId` whose certificates have expired, and forgets them. */
async function destroyExpired(o: TokenResponderKeyOptions, caId: string, entry: OcspEntry, at: Date): Promise<void> {
  const expired = (entry.retired ?? []).filter((r) => Date.parse(r.until) <= at.getTime());
  if (expired.length === 0) return;
  for (const r of expired) await destroyTokenKey(o.token, r.label);
  const gone = new Set(expired.map((r) => r.label));
  await updateKeyRecord(o.dataDir, (rec) => {
    const e = rec.ocsp?.[caId];
    if (!e) return rec;
    const retired = (e.retired ?? []).filter((r) => !gone.has(r.label));
    const { retired: _drop, ...rest } = e;
    return { ...rec, ocsp: { ...rec.ocsp, [caId]: retired.length ? { ...rest, retired } : rest } };
  });
  o.log.info({ caId, labels: [...gone] }, 'destroyed retired OCSP responder keys in the PKCS#11 token');
}

async function readCertificateFile(path: string): Promise<Uint8Array | null> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    return new Uint8Array(new X509Certificate(pem).raw);
  } catch {
    return null;
  }
}

/** OcspResponder's keyStoreFor: the token store for the CAs whose keys are in the token (CaKeys.tokenCaIds), files for the others. */
export function tokenResponderKeysFor(caKeys: CaKeys, dataDir: string, log: Logger, now: () => Date): ((ca: CertificateAuthority) => ResponderKeyStore | null) | undefined {
  if (!caKeys.token) return undefined;
  const store = tokenResponderKeys({ dataDir, token: caKeys.token, log, now });
  return (ca) => (caKeys.tokenCaIds.has(ca.id) ? store : null);
}
