// CBC content encryption for the pkcsPKIEnvelope. node:crypto (OpenSSL) does
// AES and DES-EDE3; Node 20 refuses single DES without the legacy provider, so
// that one cipher goes through node-forge. Single DES is accepted on input
// only, because micromdm scepclient always sends it (RFC 8894 section 2.9
// deprecates it); our own replies never use it.

import { createCipheriv, createDecipheriv } from 'node:crypto';
import forge from 'node-forge';
import { CIPHERS } from './algorithms.js';
import type { ContentCipher } from './types.js';

const binary = (bytes: Uint8Array): string => Buffer.from(bytes).toString('binary');

/** Decrypts with PKCS#7 padding; throws on a padding defect (wrong key, corrupted data). */
export function decryptContent(cipher: ContentCipher, key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  checkSizes(cipher, key, iv);
  if (cipher === 'des-cbc') {
    const decipher = forge.cipher.createDecipher('DES-CBC', forge.util.createBuffer(binary(key)));
    decipher.start({ iv: forge.util.createBuffer(binary(iv)) });
    decipher.update(forge.util.createBuffer(binary(data)));
    if (!decipher.finish()) throw new Error('bad padding');
    return new Uint8Array(Buffer.from(decipher.output.getBytes(), 'binary'));
  }
  const decipher = createDecipheriv(cipher, key, iv);
  return new Uint8Array(Buffer.concat([decipher.update(data), decipher.final()]));
}

export function encryptContent(cipher: ContentCipher, key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  checkSizes(cipher, key, iv);
  if (cipher === 'des-cbc') {
    const c = forge.cipher.createCipher('DES-CBC', forge.util.createBuffer(binary(key)));
    c.start({ iv: forge.util.createBuffer(binary(iv)) });
    c.update(forge.util.createBuffer(binary(data)));
    c.finish();
    return new Uint8Array(Buffer.from(c.output.getBytes(), 'binary'));
  }
  const c = createCipheriv(cipher, key, iv);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

function checkSizes(cipher: ContentCipher, key: Uint8Array, iv: Uint8Array): void {
  const spec = CIPHERS[cipher];
  if (key.length !== spec.keyLength || iv.length !== spec.ivLength) {
    throw new Error(`${cipher}: key or IV has the wrong length`);
  }
}
