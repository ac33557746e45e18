// Where the CA and RA keys of a data directory are, decided once at start:
//
//   keys.json present      the keys are in the PKCS#11 token (MDMGW_PKCS11_* must be set)
//   otherwise              key files (ca.key, ra.key), created on first start as before
//
// MDMGW_PKCS11_MODULE set with key files, or with no CA at all, is refused
// rather than guessed at: generating a software CA where the operator asked
// for a token one is exactly what an audit must never find.

import { join } from 'node:path';
import { CA_KEY_FILE, CaKeyFileError, exists, loadOrCreateCaMaterial, type CaMaterial, type CaMaterialOptions } from '../key-files.js';
import type { KeyedCertificate } from '../../x509/keys.js';
import { caIdOf, loadRetiredCas } from '../ca-rollover.js';
import { loadRetiredTokenCas } from './token-rollover.js';
import { readKeyRecord } from './key-record.js';
import { loadTokenCa } from './token-ca.js';
import { pkcs11Configured, tokenOptionsFrom, type Pkcs11Settings } from './token-config.js';
import { openToken, type Pkcs11Token } from './token.js';

export interface CaKeys {
  material: CaMaterial;
  /** The token holding the CA and RA keys; null for key files. Released by close(). */
  token: Pkcs11Token | null;
  /** Ids of the CAs whose keys are in `token` (their OCSP responder keys go there too); empty for key files. */
  tokenCaIds: ReadonlySet<string>;
  /** The CAs retired by `mdmgw ca rollover` (ca-retired/), newest first: key files, or token keys (keys.json retiredCas). */
  retired: KeyedCertificate[];
  close(): void;
}

export async function openCaKeys(dataDir: string, settings: Pkcs11Settings, opts: CaMaterialOptions & { organization: string; now?: () => Date }): Promise<CaKeys> {
  const record = await readKeyRecord(dataDir);
  if (!record) {
    if (pkcs11Configured(settings)) {
      const hasFiles = await exists(join(dataDir, CA_KEY_FILE));
      throw new CaKeyFileError(
        hasFiles
          ? `MDMGW_PKCS11_MODULE is set but the CA key in ${dataDir} is a file (ca.key): keys do not move into a token; unset MDMGW_PKCS11_*, or create a new CA with \`mdmgw ca init --pkcs11\` in a new data directory`
          : `no CA in ${dataDir}: with MDMGW_PKCS11_MODULE set, create it in the token first with \`mdmgw ca init --pkcs11 --data-dir ${dataDir}\``,
      );
    }
    const retired = await loadRetiredCas(dataDir, opts.passphrase);
    const material = await loadOrCreateCaMaterial(dataDir, { ...opts, retiredCaCertificates: retired.map((r) => r.certificate) });
    return { material, token: null, tokenCaIds: new Set(), retired, close: () => undefined };
  }
  if (!pkcs11Configured(settings)) {
    throw new CaKeyFileError(`the CA and RA keys of ${dataDir} are in a PKCS#11 token (keys.json): set MDMGW_PKCS11_MODULE, MDMGW_PKCS11_TOKEN_LABEL and MDMGW_PKCS11_PIN_FILE (docs/hsm.md)`);
  }
  const token = await openToken(await tokenOptionsFrom(settings));
  try {
    const ca = await loadTokenCa(dataDir, token, record, opts);
    const material: CaMaterial = { root: ca.root, ra: ca.ra, created: false, raReissued: ca.raReissued, previousRa: null, nextRa: null };
    const retired = await loadRetiredTokenCas(dataDir, token, record);
    const tokenCaIds = new Set([ca.root, ...retired].map((c) => caIdOf(c.certificate)));
    return { material, token, tokenCaIds, retired, close: () => token.close() };
  } catch (e) {
    token.close();
    throw e;
  }
}
