import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

// Secrets adapters must keep in the database (the APNs push key) are sealed
// with AES-256-GCM under a key that lives in the data directory, not in the
// database: a leaked database or backup of it (and, later, a shared
// PostgreSQL) does not leak them. The key file is created on first start, 0600.

export const SECRETS_KEY_FILE = 'secrets.key';
const PREFIX = 'sealed:v1:';

export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

export async function loadOrCreateSecretBox(dataDir: string): Promise<SecretBox> {
  const file = path.join(dataDir, SECRETS_KEY_FILE);
  let key: Buffer;
  try {
    key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold a 256-bit key; restore it from backup`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    key = randomBytes(32);
    // 'wx': two instances starting at once cannot overwrite each other's key.
    try {
      await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return loadOrCreateSecretBox(dataDir);
    }
    await chmod(file, 0o600);
  }
  return secretBox(key);
}

export function secretBox(key: Buffer): SecretBox {
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
      return PREFIX + Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
    },
    open(sealed) {
      if (!sealed.startsWith(PREFIX)) throw new Error('not a sealed secret');
      const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
      const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
    },
  };
}
