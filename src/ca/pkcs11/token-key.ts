// PrivateKeyOps for a key inside a PKCS#11 token: the private key never
// leaves the token. The hash is computed here and the token signs it
// (CKM_RSA_PKCS over a DigestInfo we build, CKM_ECDSA over the bare hash):
// every token offers those two mechanisms, while hash-and-sign combinations
// (CKM_SHA256_RSA_PKCS, ...) vary between HSMs, and the data sent to the
// token stays small.
//
// SCEP's key transport needs RSA decryption. We ask the token for the raw RSA
// operation (CKM_RSA_X_509) and let the codec strip the PKCS#1 v1.5 padding
// in constant time, exactly as for software keys. A token without
// CKM_RSA_X_509 (many real HSMs refuse raw RSA by policy) decrypts with
// CKM_RSA_PKCS; its result is re-wrapped as 00 02 PS 00 CEK so the codec's
// unpadding stays the one path, and a padding failure in the token becomes an
// empty result, which the codec treats like any padding defect (random CEK).

import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { HashName, PrivateKeyOps } from '../../x509/keys.js';
import { bitString, objectIdentifier, sequence, unsignedInteger } from '../../x509/asn1/der.js';
import { keyIdentifierFor } from '../certificate-builder.js';
import { ckrOf, TokenError, type Pkcs11Token } from './token.js';

/** DER prefix of DigestInfo { AlgorithmIdentifier(hash, NULL), OCTET STRING(len) } (RFC 8017 9.2 note 1). */
const DIGEST_INFO_PREFIX: Record<HashName, string> = {
  sha1: '3021300906052b0e03021a05000414',
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

const EC_PUBLIC_KEY_OID = '1.2.840.10045.2.1';

export interface TokenKeyInfo {
  algorithm: 'RSA' | 'EC';
  /** SubjectPublicKeyInfo DER, read from the token's public key object. */
  spki: Uint8Array;
  /** CKA_EXTRACTABLE and CKA_SENSITIVE of the private key: what an auditor asks about. */
  extractable: boolean;
  sensitive: boolean;
}

export function digestInfo(data: Uint8Array, hash: HashName): Buffer {
  return Buffer.concat([Buffer.from(DIGEST_INFO_PREFIX[hash], 'hex'), createHash(hash).update(data).digest()]);
}

/** ECDSA-Sig-Value DER from the token's r || s (PKCS#11 returns the two halves concatenated). */
export function ecdsaDer(raw: Uint8Array): Uint8Array {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new TokenError(`the token returned a ${raw.length}-byte ECDSA signature (expected r || s)`);
  const half = raw.length / 2;
  return sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}

function attr(token: Pkcs11Token, session: Buffer, object: Buffer, type: number): Buffer {
  const [a] = token.api.C_GetAttributeValue(session, object, [{ type }]);
  return a?.value as Buffer;
}

function privateKeyHandle(token: Pkcs11Token, session: Buffer, label: string): Buffer {
  const handle = token.findObject(session, pkcs11js.CKO_PRIVATE_KEY, label);
  if (!handle) throw new TokenError(`the PKCS#11 ${token.name} has no private key labelled "${label}": run \`mdmgw ca init --pkcs11\`, or check MDMGW_PKCS11_TOKEN_LABEL`);
  return handle;
}

/** Public key, algorithm and protection flags of the key pair labelled `label`. */
export async function tokenKeyInfo(token: Pkcs11Token, label: string): Promise<TokenKeyInfo> {
  return token.withSession(`read the key "${label}"`, (session) => {
    const priv = privateKeyHandle(token, session, label);
    const flag = (type: number) => (attr(token, session, priv, type) as Buffer).readUInt8(0) !== 0;
    const keyType = (attr(token, session, priv, pkcs11js.CKA_KEY_TYPE) as Buffer).readUInt32LE(0);
    const pub = token.findObject(session, pkcs11js.CKO_PUBLIC_KEY, label);
    if (!pub) throw new TokenError(`the PKCS#11 ${token.name} has the private key "${label}" but not its public key object`);
    let spki: Uint8Array;
    let algorithm: 'RSA' | 'EC';
    if (keyType === pkcs11js.CKK_RSA) {
      algorithm = 'RSA';
      const n = attr(token, session, pub, pkcs11js.CKA_MODULUS);
      const e = attr(token, session, pub, pkcs11js.CKA_PUBLIC_EXPONENT);
      const jwk = { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') };
      spki = new Uint8Array(createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' }));
    } else if (keyType === pkcs11js.CKK_EC) {
      algorithm = 'EC';
      const params = attr(token, session, pub, pkcs11js.CKA_EC_PARAMS);
      const point = ecPointOf(attr(token, session, pub, pkcs11js.CKA_EC_POINT));
      spki = sequence(sequence(objectIdentifier(EC_PUBLIC_KEY_OID), new Uint8Array(params)), bitString(point));
    } else {
      throw new TokenError(`the key "${label}" in the PKCS#11 ${token.name} is neither RSA nor EC (CKA_KEY_TYPE ${keyType})`);
    }
    return { algorithm, spki, extractable: flag(pkcs11js.CKA_EXTRACTABLE), sensitive: flag(pkcs11js.CKA_SENSITIVE) };
  });
}

/** CKA_EC_POINT is a DER OCTET STRING around the point (PKCS#11 2.40); a few modules give the bare point. */
function ecPointOf(value: Buffer): Uint8Array {
  if (value[0] === 0x04 && value.length > 2) {
    const long = value[1]! & 0x80 ? value[1]! & 0x7f : 0;
    const len = long ? value.subarray(2, 2 + long).reduce((n, b) => n * 256 + b, 0) : value[1]!;
    if (2 + long + len === value.length) return new Uint8Array(value.subarray(2 + long));
  }
  return new Uint8Array(value);
}

/**
 * The PrivateKeyOps of the token key labelled `label`. Throws a TokenError at
 * once when the key is missing, so a misconfiguration stops the start rather
 * than the first enrollment.
 */
export async function tokenKey(token: Pkcs11Token, label: string, o: { rawDecrypt?: boolean } = {}): Promise<PrivateKeyOps & { spki: Uint8Array }> {
  const info = await tokenKeyInfo(token, label);
  // Object handles stay valid across sessions; a token restarted under us gives
  // CKR_*_HANDLE_INVALID, and the key is looked up again once.
  let cached: Buffer | null = null;
  const withKey = <T>(session: Buffer, op: (key: Buffer) => T): T => {
    try {
      return op((cached ??= privateKeyHandle(token, session, label)));
    } catch (e) {
      const ckr = ckrOf(e);
      if (ckr !== 'CKR_KEY_HANDLE_INVALID' && ckr !== 'CKR_OBJECT_HANDLE_INVALID') throw e;
      cached = null;
      return op((cached = privateKeyHandle(token, session, label)));
    }
  };
  const sign = async (data: Uint8Array, hash: HashName): Promise<Uint8Array> => {
    const input = info.algorithm === 'RSA' ? digestInfo(data, hash) : createHash(hash).update(data).digest();
    const mechanism = info.algorithm === 'RSA' ? pkcs11js.CKM_RSA_PKCS : pkcs11js.CKM_ECDSA;
    return token.withSession(`sign with "${label}"`, async (session) => {
      withKey(session, (key) => token.api.C_SignInit(session, { mechanism }, key));
      // The async form runs in libuv's pool: an HSM round trip does not stall other requests.
      const raw = new Uint8Array(await token.api.C_SignAsync(session, input, Buffer.alloc(1024)));
      return info.algorithm === 'RSA' ? raw : ecdsaDer(raw);
    });
  };
  if (info.algorithm === 'EC') return { algorithm: 'EC', spki: info.spki, sign };
  const modulusLength = modulusBytes(info.spki);
  // `rawDecrypt: false` forces the CKM_RSA_PKCS path (tests; tokens whose mechanism list claims more than their policy allows).
  const raw = o.rawDecrypt ?? token.mechanisms().has(pkcs11js.CKM_RSA_X_509);
  return {
    algorithm: 'RSA',
    spki: info.spki,
    sign,
    decryptRaw: (data: Uint8Array) =>
      token.withSessionSync(`decrypt with "${label}"`, (session) => {
        if (raw) {
          withKey(session, (key) => token.api.C_DecryptInit(session, { mechanism: pkcs11js.CKM_RSA_X_509 }, key));
          return new Uint8Array(token.api.C_Decrypt(session, Buffer.from(data), Buffer.alloc(modulusLength)));
        }
        return withKey(session, (key) => decryptPkcs1(token, session, key, data, modulusLength));
      }),
  };
}

/** CKM_RSA_PKCS decryption re-wrapped as 00 02 PS 00 M; a padding failure in the token gives an empty result. */
function decryptPkcs1(token: Pkcs11Token, session: Buffer, key: Buffer, data: Uint8Array, k: number): Uint8Array {
  token.api.C_DecryptInit(session, { mechanism: pkcs11js.CKM_RSA_PKCS }, key);
  let m: Buffer;
  try {
    m = token.api.C_Decrypt(session, Buffer.from(data), Buffer.alloc(k));
  } catch (e) {
    const ckr = ckrOf(e);
    // A bad ciphertext, not a token problem: let the codec continue with a random CEK.
    if (ckr === 'CKR_ENCRYPTED_DATA_INVALID' || ckr === 'CKR_ENCRYPTED_DATA_LEN_RANGE') return new Uint8Array(0);
    throw e;
  }
  if (m.length > k - 11) return new Uint8Array(0);
  const ps = randomBytes(k - 3 - m.length).map((b) => b | 1);
  return new Uint8Array(Buffer.concat([Buffer.of(0, 2), ps, Buffer.of(0), m]));
}

function modulusBytes(spki: Uint8Array): number {
  const bits = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength ?? 0;
  return Math.ceil(bits / 8);
}

/**
 * Generates an RSA key pair inside the token: private key sensitive, not
 * extractable, usable to sign and (only with `decrypt`: the SCEP RA) to
 * decrypt, never to unwrap other keys; the public key object carries the
 * same label and CKA_ID (the key identifier, as PKCS#11 tools expect).
 * Refuses when a key with that label exists already.
 */
export async function generateTokenRsaKey(token: Pkcs11Token, label: string, bits: number, o: { decrypt?: boolean } = {}): Promise<TokenKeyInfo> {
  await token.withSession(`generate the key "${label}"`, async (session) => {
    if (token.findObject(session, pkcs11js.CKO_PRIVATE_KEY, label)) {
      throw new TokenError(`the PKCS#11 ${token.name} already holds a key labelled "${label}": remove it or use another token (refusing to replace a CA key)`);
    }
    const common = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
    ];
    const pair = await token.api.C_GenerateKeyPairAsync(
      session,
      { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [...common, { type: pkcs11js.CKA_MODULUS_BITS, value: bits }, { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }, { type: pkcs11js.CKA_VERIFY, value: true }, { type: pkcs11js.CKA_ENCRYPT, value: o.decrypt ?? false }, { type: pkcs11js.CKA_WRAP, value: false }],
      [
        ...common,
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: o.decrypt ?? false },
        { type: pkcs11js.CKA_UNWRAP, value: false },
      ],
    );
    // CKA_ID = SHA-1 of the public key (the certificate's SKI), set once the key exists.
    const n = attr(token, session, pair.publicKey, pkcs11js.CKA_MODULUS);
    const jwk = { kty: 'RSA', n: n.toString('base64url'), e: 'AQAB' };
    const spki = new Uint8Array(createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' }));
    const id = Buffer.from(keyIdentifierFor(spki));
    for (const h of [pair.publicKey, pair.privateKey]) token.api.C_SetAttributeValue(session, h, [{ type: pkcs11js.CKA_ID, value: id }]);
  });
  return tokenKeyInfo(token, label);
}

/** Removes both objects of the key pair labelled `label` (a failed `ca init` leaves nothing behind). */
export async function destroyTokenKey(token: Pkcs11Token, label: string): Promise<void> {
  await token.withSession(`remove the key "${label}"`, (session) => {
    for (const cls of [pkcs11js.CKO_PRIVATE_KEY, pkcs11js.CKO_PUBLIC_KEY]) {
      const h = token.findObject(session, cls, label);
      if (h) token.api.C_DestroyObject(session, h);
    }
  });
}
