// keys.json in the data directory says which keys are not files: with
// `mdmgw ca init --pkcs11` the CA and RA keys live in a PKCS#11 token, found
// there by CKA_LABEL; ca.key and ra.key do not exist. The certificates stay
// files (ca.pem, ra.pem) like those of software keys: every part of the
// gateway reads them the same way, and they are public anyway.
//
//   { "ca": { "pkcs11": { "label": "mdmgw-ca" } }, "ra": { "pkcs11": { "label": "mdmgw-ra" } } }
//
// Which token (module, label or slot, PIN) is configuration (MDMGW_PKCS11_*),
// not recorded here: the same data directory restored on another host may
// reach the same HSM through another module path.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CaKeyFileError } from '../key-files.js';

export const KEY_RECORD_FILE = 'keys.json';
export const CA_KEY_LABEL = 'mdmgw-ca';
export const RA_KEY_LABEL = 'mdmgw-ra';

const tokenKeyRef = z.object({ pkcs11: z.object({ label: z.string().min(1).max(64) }).strict() }).strict();
const recordSchema = z.object({ ca: tokenKeyRef, ra: tokenKeyRef }).strict();

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
  if (!r.success) throw new CaKeyFileError(`${file} is not a key record ({"ca":{"pkcs11":{"label":...}},"ra":{...}}): ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

export function keyRecordJson(caLabel: string, raLabel: string): string {
  const record: KeyRecord = { ca: { pkcs11: { label: caLabel } }, ra: { pkcs11: { label: raLabel } } };
  return `${JSON.stringify(record, null, 2)}\n`;
}
