import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

// Key material in a shared database is sealed under MDMGW_CA_PASSPHRASE: a
// copy of the database (a backup, a replica, a DBA's query) holds no usable
// key. AES-256-GCM under a key derived with scrypt from the passphrase and a
// salt of its own per blob; the blob's name is authenticated data, so a blob
// copied under another name (ra.key as ca.key) does not open.

const MAGIC = Buffer.from('mdmgw-key:v1\0');
const SALT = 16;
const IV = 12;
const TAG = 16;
// N=2^15, r=8: about 32 MiB and tens of milliseconds per derivation; done
// once per blob version (the derived key is cached by salt).
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export class SealedKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealedKeyError';
  }
}

export interface Sealer {
  seal(name: string, plaintext: Buffer): Buffer;
  open(name: string, sealed: Uint8Array): Buffer;
}

export function passphraseSealer(passphrase: string): Sealer {
  const derived = new Map<string, Buffer>();
  const keyFor = (salt: Buffer): Buffer => {
    const id = salt.toString('hex');
    let key = derived.get(id);
    if (!key) {
      key = scryptSync(passphrase, salt, 32, SCRYPT);
      derived.set(id, key);
    }
    return key;
  };
  return {
    seal(name, plaintext) {
      const salt = randomBytes(SALT);
      const iv = randomBytes(IV);
      const c = createCipheriv('aes-256-gcm', keyFor(salt), iv);
      c.setAAD(Buffer.from(name, 'utf8'));
      const body = Buffer.concat([c.update(plaintext), c.final()]);
      return Buffer.concat([MAGIC, salt, iv, c.getAuthTag(), body]);
    },
    open(name, sealed) {
      const raw = Buffer.from(sealed);
      if (raw.length < MAGIC.length + SALT + IV + TAG || !raw.subarray(0, MAGIC.length).equals(MAGIC)) {
        throw new SealedKeyError(`key material "${name}" in the database is not a sealed key (mdmgw-key:v1)`);
      }
      let at = MAGIC.length;
      const salt = raw.subarray(at, (at += SALT));
      const iv = raw.subarray(at, (at += IV));
      const tag = raw.subarray(at, (at += TAG));
      const d = createDecipheriv('aes-256-gcm', keyFor(Buffer.from(salt)), iv);
      d.setAAD(Buffer.from(name, 'utf8'));
      d.setAuthTag(tag);
      try {
        return Buffer.concat([d.update(raw.subarray(at)), d.final()]);
      } catch {
        throw new SealedKeyError(`cannot open key material "${name}" in the database: wrong MDMGW_CA_PASSPHRASE (or the row was altered)`);
      }
    },
  };
}
