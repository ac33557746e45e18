// Software implementation of PrivateKeyOps on node:crypto (OpenSSL). Used by
// tests, device simulators and deployments without a token. Everything goes
// through OpenSSL: pure-JS RSA would block the event loop.

import { constants, privateDecrypt, sign as cryptoSign, type KeyObject, type SignKeyObjectInput } from 'node:crypto';
import type { HashName, PrivateKeyOps } from './keys.js';

/**
 * crypto.sign with a callback runs in libuv's thread pool, so an RSA-3072
 * signature (about 1.7 ms) does not stall every other request meanwhile.
 */
function signAsync(hash: HashName, data: Uint8Array, key: SignKeyObjectInput): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    cryptoSign(hash, data, key, (err, sig) => (err ? reject(err) : resolve(new Uint8Array(sig))));
  });
}

export function softwareKey(key: KeyObject): PrivateKeyOps {
  if (key.type !== 'private') throw new TypeError('softwareKey needs a private KeyObject');
  const kind = key.asymmetricKeyType;
  if (kind !== 'rsa' && kind !== 'ec') {
    // RSA-PSS keys, Ed25519 and friends cannot sign SCEP messages as SCEP clients expect.
    throw new TypeError(`softwareKey supports RSA and EC keys, not ${String(kind)}`);
  }
  if (kind === 'ec') {
    return {
      algorithm: 'EC',
      // dsaEncoding 'der': CMS carries ECDSA-Sig-Value (SEQUENCE { r, s }).
      sign: (data, hash) => signAsync(hash, data, { key, dsaEncoding: 'der' }),
    };
  }
  return {
    algorithm: 'RSA',
    sign: (data, hash) => signAsync(hash, data, { key, padding: constants.RSA_PKCS1_PADDING }),
    // No padding removed here: Node 20 refuses PKCS#1 v1.5 private decryption
    // (Marvin fix), so the codec strips 00 02 PS 00 in constant time itself.
    decryptRaw: (data: Uint8Array) => new Uint8Array(privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, data)),
  };
}
