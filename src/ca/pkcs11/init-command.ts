// `mdmgw ca init --data-dir DIR [--pkcs11]`: creates the CA and the SCEP RA
// before the first start. With --pkcs11 both keys are generated inside the
// token named by MDMGW_PKCS11_* (token-ca.ts); without it they are key files,
// as a first start would make them.

import { join } from 'node:path';
import type { Config } from '../../config.js';
import { certificateThumbprint } from './thumbprint.js';
import { CA_CERT_FILE, CA_KEY_FILE, CaKeyFileError, exists, loadOrCreateCaMaterial } from '../key-files.js';
import { KEY_RECORD_FILE } from './key-record.js';
import { initCaInToken } from './token-ca.js';
import { initSubordinateInToken } from './token-subordinate.js';
import { CaSetupError } from '../ca-setup.js';
import { tokenOptionsFrom } from './token-config.js';
import { openToken, TokenError } from './token.js';

export interface CaInitFlags {
  pkcs11?: boolean;
  /** With pkcs11: a subordinate CA (ca.csr for the enterprise CA) instead of a self-signed root. */
  subordinate?: boolean;
  subject?: string;
  caKeyBits?: number;
  raKeyBits?: number;
}

/** Runs `ca init`; returns the exit code after writing what happened (stdout) or why not (stderr). */
export async function runCaInit(config: Config, flags: CaInitFlags, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  try {
    if (flags.pkcs11) return await initInToken(config, flags, out);
    for (const f of [KEY_RECORD_FILE, CA_KEY_FILE, CA_CERT_FILE]) {
      if (await exists(join(config.dataDir, f))) throw new CaKeyFileError(`${config.dataDir} already has a CA (${f}): \`ca init\` needs a new data directory`);
    }
    const ca = await loadOrCreateCaMaterial(config.dataDir, { passphrase: config.caPassphrase, organization: config.organization, caKey: config.caKey });
    out.write(`created the CA and the SCEP RA in ${config.dataDir} (key files ca.key, ra.key)\nCA certificate SHA-256 ${certificateThumbprint(ca.root.certificate)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof TokenError || e instanceof CaKeyFileError || e instanceof CaSetupError) {
      err.write(`mdmgw: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

async function initInToken(config: Config, flags: CaInitFlags, out: NodeJS.WritableStream): Promise<number> {
  const token = await openToken(await tokenOptionsFrom(config));
  try {
    if (flags.subordinate) {
      const subject = flags.subject ?? `CN=mdm-gateway Issuing CA, O=${config.organization}`;
      const r = await initSubordinateInToken(config.dataDir, token, { subject, caKeyBits: flags.caKeyBits, raKeyBits: flags.raKeyBits });
      out.write(
        `generated the CA key "${r.caLabel}" and the SCEP RA key "${r.raLabel}" inside the PKCS#11 ${token.name} (not extractable)\n` +
          `wrote the request ${r.csrFile} (subject "${subject}", CA:TRUE, keyCertSign, cRLSign requested; signed in the token) and ${join(config.dataDir, KEY_RECORD_FILE)}; no private key file\n` +
          `have the enterprise CA sign it as a subordinate CA, then run (with the same MDMGW_PKCS11_* settings):\n` +
          `  mdmgw ca import --data-dir ${config.dataDir} --cert issued.pem --chain chain.pem\n`,
      );
      return 0;
    }
    const r = await initCaInToken(config.dataDir, token, { organization: config.organization, caKeyBits: flags.caKeyBits, raKeyBits: flags.raKeyBits });
    out.write(
      `generated the CA key "${r.caLabel}" and the SCEP RA key "${r.raLabel}" inside the PKCS#11 ${token.name} (not extractable)\n` +
        `wrote ${join(config.dataDir, CA_CERT_FILE)}, ${join(config.dataDir, 'ra.pem')} and ${join(config.dataDir, KEY_RECORD_FILE)}; no private key file\n` +
        `CA certificate SHA-256 ${certificateThumbprint(r.caCertificate)}\n` +
        `start the gateway with the same MDMGW_PKCS11_* settings: mdmgw serve --data-dir ${config.dataDir}\n`,
    );
    return 0;
  } finally {
    token.close();
  }
}
