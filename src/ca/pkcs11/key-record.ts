// keys.json in the data directory says which keys are not files: with
// `mdmgw ca init --pkcs11` the CA and RA keys live in a PKCS#11 token, found
// there by CKA_LABEL; ca.key and ra.key do not exist. The certificates stay
// files (ca.pem, ra.pem) like those of software keys: every part of the
// gateway reads them the same way, and they are public anyway.
//
//   { "ca": { "pkcs11": { "label": "mdmgw-ca" } }, "ra": { "pkcs11": { "label": "mdmgw-ra" } },
//     "ocsp": { "<caId>": { "pkcs11": { "label": "mdmgw-ocsp-..." },
//                           "retired": [{ "label": "mdmgw-ocsp-...", "until": "<ISO time>" }] } },
//     "retiredCas": { "<caId>": { "pkcs11": { "label": "mdmgw-ca-..." } } } }
//
// `ocsp` (optional): each token CA's OCSP responder key (its certificate is
// ocsp-<caId>.pem); a rotated-out key stays listed under `retired` until its
// certificate has expired (`until`), then it is destroyed. `retiredCas`
// (optional): the keys of CAs retired by `mdmgw ca rollover`, whose
// certificates are ca-retired/<caId>.pem; they keep signing CRLs and OCSP
// responder certificates for what they issued.
//
// Which token (module, label or slot, PIN) is configuration (MDMGW_PKCS11_*),
// not recorded here: the same data directory restored on another host may
// reach the same HSM through another module path.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CaKeyFileError, replaceFile } from '../key-files.js';

export const KEY_RECORD_FILE = 'keys.json';
export const CA_KEY_LABEL = 'mdmgw-ca';
export const RA_KEY_LABEL = 'mdmgw-ra';

const tokenKeyRef = z.object({ pkcs11: z.object({ label: z.string().min(1).max(64) }).strict() }).strict();
const label = z.string().min(1).max(64);
const ocspKeyRef = z.object({ pkcs11: z.object({ label }).strict(), retired: z.array(z.object({ label, until: z.string().datetime() }).strict()).optional() }).strict();
const caIdKey = z.string().regex(/^[0-9a-f]{2,128}$/);
const recordSchema = z
  .object({ ca: tokenKeyRef, ra: tokenKeyRef, ocsp: z.record(caIdKey, ocspKeyRef).optional(), retiredCas: z.record(caIdKey, tokenKeyRef).optional() })
  .strict();

export type KeyRecord = z.infer<typeof recordSchema>;

/** keys.json of `dataDir`; null when absent (the keys are files). */
export async function readKeyRecord(dataDir: string): Promise<KeyRecord | null> {
  const file = join(dataDir, KEY_RECORD_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CaKeyFileError(`${file} is not JSON: ${(e as Error).message}; restore it from backup`, { cause: e });
  }
  const r = recordSchema.safeParse(parsed);
  if (!r.success) throw new CaKeyFileError(`${file} is not a key record ({"ca":{"pkcs11":{"label":...}},"ra":{...}}): ${r.error.issues[0]?.path.join('.') ?? ''} ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

export function keyRecordJson(caLabel: string, raLabel: string): string {
  return recordJson({ ca: { pkcs11: { label: caLabel } }, ra: { pkcs11: { label: raLabel } } });
}

export const recordJson = (record: KeyRecord): string => `${JSON.stringify(record, null, 2)}\n`;

/**
 * Changes keys.json atomically: `change` gets the record as it is on disk now
 * (another process may have changed it since start) and returns the new one.
 * One writer at a time within this process, so two CAs' responders rotating
 * together do not lose each other's entry.
 */
export async function updateKeyRecord(dataDir: string, change: (r: KeyRecord) => KeyRecord): Promise<KeyRecord> {
  const run = updating.then(async () => {
    const current = await readKeyRecord(dataDir);
    if (!current) throw new CaKeyFileError(`${join(dataDir, KEY_RECORD_FILE)} is missing: the PKCS#11 key record was removed under the running gateway; restore it from backup`);
    const next = change(current);
    await replaceFile(join(dataDir, KEY_RECORD_FILE), recordJson(next), 0o600);
    return next;
  });
  updating = run.catch(() => undefined);
  return run;
}
let updating: Promise<unknown> = Promise.resolve();
