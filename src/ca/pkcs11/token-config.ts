// From the validated configuration (MDMGW_PKCS11_*) to TokenOptions. The PIN
// file is read here, when the token is opened, and must not be readable by
// other users: a PIN any local account can read protects nothing.

import { readFile, stat } from 'node:fs/promises';
import type { Config } from '../../config.js';
import { TokenError, type TokenOptions } from './token.js';

export type Pkcs11Settings = Pick<Config, 'pkcs11Module' | 'pkcs11TokenLabel' | 'pkcs11Slot' | 'pkcs11Pin' | 'pkcs11PinFile'>;

/** True when MDMGW_PKCS11_MODULE is set (loadConfig has checked the rest goes with it). */
export const pkcs11Configured = (c: Pkcs11Settings): boolean => c.pkcs11Module !== undefined;

export async function tokenOptionsFrom(c: Pkcs11Settings): Promise<TokenOptions> {
  if (c.pkcs11Module === undefined) throw new TokenError('no PKCS#11 module configured: set MDMGW_PKCS11_MODULE, MDMGW_PKCS11_TOKEN_LABEL and MDMGW_PKCS11_PIN_FILE (docs/hsm.md)');
  const pin = c.pkcs11Pin ?? (await readPinFile(c.pkcs11PinFile!));
  return { module: c.pkcs11Module, tokenLabel: c.pkcs11TokenLabel, slot: c.pkcs11Slot, pin };
}

async function readPinFile(file: string): Promise<string> {
  let mode: number;
  let text: string;
  try {
    mode = (await stat(file)).mode;
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new TokenError(`cannot read the PKCS#11 PIN file ${file} (MDMGW_PKCS11_PIN_FILE): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (mode & 0o077) throw new TokenError(`the PKCS#11 PIN file ${file} is readable by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 it`);
  // One line; editors add a trailing newline.
  const pin = text.replace(/\r?\n$/, '');
  if (pin === '' || /[\r\n]/.test(pin)) throw new TokenError(`the PKCS#11 PIN file ${file} must hold the PIN on one line`);
  return pin;
}
