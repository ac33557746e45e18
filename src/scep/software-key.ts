// Software implementation of PrivateKeyOps on node:crypto (OpenSSL). Used by
// tests, device simulators and deployments without a token. Everything goes
// through OpenSSL: pure-JS RSA would block the event loop.

import { constants, privateDecrypt, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { HashName, PrivateKeyOps } from './keys.js';

export function softwareKey(key: import('node:crypto').KeyObject): PrivateKeyOps {
  if (key.type !== 'private') throw new TypeError('softwareKey needs a private KeyObject');
  const kind = key.asymmetricKeyType;
  if (kind !== 'rsa' && kind !== 'ec') {
    // RSA-PSS keys, Ed25519 and friends cannot sign SCEP messages as SCEP clients expect.
    throw new TypeError(`softwareKey supports RSA and EC keys, not ${String(kind)}`);
  }
  const privateKey: KeyObject = key;
  if (kind === 'ec') {
    return {
      algorithm: 'EC',
      // dsaEncoding 'der': CMS carries ECDSA-Sig-Value (SEQUENCE { r, s }).
      sign: async (data: Uint8Array, hash: HashName) =>
        new Uint8Array(cryptoSign(hash, data, { key: privateKey, dsaEncoding: 'der' })),
    };
  }
  return {
    algorithm: 'RSA',
    sign: async (data: Uint8Array, hash: HashName) =>
      new Uint8Array(cryptoSign(hash, data, { key: privateKey, padding: constants.RSA_PKCS1_PADDING })),
    // No padding removed here: Node 20 refuses PKCS#1 v1.5 private decryption
    // (Marvin fix), so the codec strips 00 02 PS 00 in constant time itself.
    decryptRaw: (data: Uint8Array) =>
      new Uint8Array(privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, data)),
  };
}
