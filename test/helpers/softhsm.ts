import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { openToken, type Pkcs11Token } from '../../src/ca/pkcs11/token.js';
import { tempDir } from './openssl.js';

// A throwaway SoftHSM token (Debian package softhsm2) in a temporary
// directory: its own softhsm2.conf (tokendir inside the directory), pointed at
// by SOFTHSM2_CONF, which the SoftHSM library reads when it is initialised.

const run = promisify(execFile);

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const SOFTHSM_UTIL = '/usr/bin/softhsm2-util';

/** Null when SoftHSM is installed, else the message a skipped suite prints. */
export function softHsmMissing(): string | null {
  for (const f of [SOFTHSM_MODULE, SOFTHSM_UTIL]) {
    try {
      accessSync(f, constants.R_OK);
    } catch {
      return `not checked (${f} absent): the PKCS#11 tests need the Debian package softhsm2 (apt-get install softhsm2; CI does this in .ci/run)`;
    }
  }
  return null;
}

export interface SoftHsmToken {
  dir: string;
  conf: string;
  label: string;
  pin: string;
  /** MDMGW_PKCS11_* and SOFTHSM2_CONF for a child process or loadConfig. */
  env: Record<string, string>;
  /** Initialises one more token in the same SoftHSM directory. */
  addToken(label: string): Promise<void>;
  remove(): Promise<void>;
}

export async function createSoftHsmToken(label = 'T', pin = '1234'): Promise<SoftHsmToken> {
  const dir = await tempDir('mdmgw-softhsm-');
  const tokens = path.join(dir, 'tokens');
  await mkdir(tokens, { mode: 0o700 });
  const conf = path.join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const addToken = async (l: string) => {
    await run(SOFTHSM_UTIL, ['--init-token', '--free', '--label', l, '--pin', pin, '--so-pin', '5678'], { env: { ...process.env, SOFTHSM2_CONF: conf } });
  };
  await addToken(label);
  return {
    dir,
    conf,
    label,
    pin,
    env: { SOFTHSM2_CONF: conf, MDMGW_PKCS11_MODULE: SOFTHSM_MODULE, MDMGW_PKCS11_TOKEN_LABEL: label, MDMGW_PKCS11_PIN: pin },
    addToken,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A token opened in this process (SOFTHSM2_CONF set for it) and an empty work directory with `dataDir` inside. */
export interface SoftHsmWorkspace {
  hsm: SoftHsmToken;
  token: Pkcs11Token;
  work: string;
  dataDir: string;
  /** Closes the token, removes it and the work directory. */
  close(): Promise<void>;
}

export async function softHsmWorkspace(label: string, workPrefix: string): Promise<SoftHsmWorkspace> {
  const hsm = await createSoftHsmToken(label);
  process.env.SOFTHSM2_CONF = hsm.conf;
  const token = await openToken({ module: SOFTHSM_MODULE, tokenLabel: label, pin: hsm.pin });
  const work = await tempDir(workPrefix);
  return {
    hsm,
    token,
    work,
    dataDir: path.join(work, 'data'),
    close: async () => {
      token.close();
      await hsm.remove();
      await rm(work, { recursive: true, force: true });
    },
  };
}
