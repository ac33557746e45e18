import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { publicKeyFromSpki, rsaJwkOf } from '../../src/x509/spki-key.js';

// spki-key.ts reads plain RSA SPKIs itself (OpenSSL 3's DER decoder costs
// about 0.2 ms per key): a key it reads must be exactly the key OpenSSL
// reads from the same bytes, and anything it does not read must still reach
// OpenSSL, which accepts or refuses it as before.

const spkiOf = (k: KeyObject) => new Uint8Array(k.export({ format: 'der', type: 'spki' }));
const openssl = (spki: Uint8Array): KeyObject | Error => {
  try {
    return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (e) {
    return e as Error;
  }
};
const ours = (spki: Uint8Array): KeyObject | Error => {
  try {
    return publicKeyFromSpki(spki);
  } catch (e) {
    return e as Error;
  }
};

describe('publicKeyFromSpki', () => {
  const rsa = [1024, 2048, 3072].map((bits) => generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: bits === 1024 ? 3 : 0x10001 }).publicKey);

  it('reads RSA keys as JWK (n, e) into the same key OpenSSL reads: same SPKI, same details', () => {
    for (const k of rsa) {
      const spki = spkiOf(k);
      expect(rsaJwkOf(spki)).not.toBeNull();
      const key = publicKeyFromSpki(spki);
      expect(key.asymmetricKeyType).toBe('rsa');
      expect(key.asymmetricKeyDetails).toEqual(k.asymmetricKeyDetails);
      expect(Buffer.from(spkiOf(key)).equals(Buffer.from(spki))).toBe(true);
      expect(key.equals(k)).toBe(true);
    }
  });

  it('hands every other key type to OpenSSL unchanged (EC, Ed25519, RSA-PSS)', () => {
    const others = [
      generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey,
      generateKeyPairSync('ed25519').publicKey,
      generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey,
    ];
    for (const k of others) {
      const spki = spkiOf(k);
      expect(rsaJwkOf(spki)).toBeNull();
      expect(publicKeyFromSpki(spki).equals(k)).toBe(true);
    }
  });

  it('over 3,000 mutated SPKIs: whatever it reads itself, OpenSSL reads as the same key; what OpenSSL refuses, it refuses', () => {
    const base = spkiOf(rsa[1]!);
    let readHere = 0;
    for (let i = 0; i < 3000; i++) {
      const m = new Uint8Array(base);
      // 1 to 3 byte changes, mostly in the headers where the structure is decided
      for (let j = 0, n = 1 + (i % 3); j < n; j++) {
        const at = i % 4 === 0 ? randomBytes(2).readUInt16BE() % m.length : randomBytes(1)[0]! % 40;
        m[at] = randomBytes(1)[0]!;
      }
      const cut = i % 7 === 0 ? m.subarray(0, m.length - 1 - (i % 5)) : m;
      const here = ours(cut);
      const there = openssl(cut);
      if (rsaJwkOf(cut)) {
        readHere += 1;
        expect(there, `mutation ${i}`).not.toBeInstanceOf(Error);
        expect(here, `mutation ${i}`).not.toBeInstanceOf(Error);
        expect((here as KeyObject).equals(there as KeyObject), `mutation ${i}`).toBe(true);
      } else {
        expect(here instanceof Error, `mutation ${i}`).toBe(there instanceof Error);
      }
    }
    expect(readHere).toBeGreaterThan(100); // the mutations also hit the modulus, which stays a valid key
  });

  it('refuses non-minimal, negative or zero integers and trailing bytes (left to OpenSSL)', () => {
    const spki = spkiOf(rsa[1]!);
    expect(rsaJwkOf(Uint8Array.of(...spki, 0))).toBeNull();
    // RSAPublicKey { INTEGER 0x00 0x01, INTEGER 0x01 0x00 0x01 } in a well-formed SPKI: the leading zero is not minimal
    const header = Uint8Array.of(0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00);
    const wrap = (rsaKey: number[]) => {
      const bits = [0x03, rsaKey.length + 1, 0x00, ...rsaKey];
      return Uint8Array.of(0x30, header.length + bits.length, ...header, ...bits);
    };
    expect(rsaJwkOf(wrap([0x30, 0x08, 0x02, 0x02, 0x00, 0x01, 0x02, 0x02, 0x01, 0x01]))).toBeNull();
    expect(rsaJwkOf(wrap([0x30, 0x07, 0x02, 0x01, 0x81, 0x02, 0x02, 0x01, 0x01]))).toBeNull();
    expect(rsaJwkOf(wrap([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x03]))).toBeNull();
    expect(rsaJwkOf(wrap([0x30, 0x06, 0x02, 0x01, 0x7f, 0x02, 0x01, 0x03]))).toEqual({ kty: 'RSA', n: 'fw', e: 'Aw' });
  });
});
