import { createPublicKey, type KeyObject } from 'node:crypto';
import { DerError } from './asn1/der-error.js';
import { children, content, raw, readWhole } from './asn1/der-reader.js';

// A public key from a SubjectPublicKeyInfo, without OpenSSL 3's DER decoder
// for RSA (issue 13). `createPublicKey({format: 'der', type: 'spki'})` goes
// through OpenSSL 3.0's decoder framework, which tries decoder after decoder:
// about 0.2 ms for an RSA-2048 key on this machine, against 0.013 ms for the
// same key given as a JWK (modulus and exponent). An enrollment imports two
// keys nobody has seen before (the CSR's and the self-signed signer
// certificate's), so that is about 0.4 ms of each.
//
// Only the one unambiguous shape takes the JWK road: an rsaEncryption
// AlgorithmIdentifier with NULL parameters (the exact DER bytes), a BIT STRING
// with no unused bits holding RSAPublicKey { n, e } as minimal positive DER
// INTEGERs, nothing trailing anywhere. Anything else (RSA-PSS, EC, Ed25519, a
// BER or odd encoding) is handed to OpenSSL as before, which accepts or
// refuses it as it always did. test/x509/spki-key.test.ts checks, for
// generated and mutated keys, that a key read here is the key OpenSSL reads.

/** AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL } in DER. */
const RSA_ENCRYPTION = Uint8Array.of(0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00);

/** The key of a DER SubjectPublicKeyInfo; throws as createPublicKey does for one it cannot read. */
export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  const jwk = rsaJwkOf(spki);
  if (jwk) return createPublicKey({ key: jwk, format: 'jwk' });
  return createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
}

/** n and e of a plain RSA SPKI in strict DER, as a JWK; null for any other shape. */
export function rsaJwkOf(spki: Uint8Array): { kty: 'RSA'; n: string; e: string } | null {
  try {
    const outer = readWhole(spki, 0x30);
    const parts = children(spki, outer);
    if (parts.length !== 2 || parts[1]!.tag !== 0x03) return null;
    if (!Buffer.from(raw(spki, parts[0]!)).equals(RSA_ENCRYPTION)) return null;
    const bits = content(spki, parts[1]!);
    if (bits.length < 2 || bits[0] !== 0) return null; // unused-bits octet
    const key = bits.subarray(1);
    const fields = children(key, readWhole(key, 0x30));
    if (fields.length !== 2 || fields[0]!.tag !== 0x02 || fields[1]!.tag !== 0x02) return null;
    const n = positiveMagnitude(content(key, fields[0]!));
    const e = positiveMagnitude(content(key, fields[1]!));
    if (!n || !e) return null;
    return { kty: 'RSA', n: base64url(n), e: base64url(e) };
  } catch (err) {
    if (err instanceof DerError) return null;
    throw err;
  }
}

/** The magnitude of a minimal, positive, non-zero DER INTEGER; null otherwise. */
function positiveMagnitude(c: Uint8Array): Uint8Array | null {
  if (c.length === 0 || (c[0]! & 0x80) !== 0) return null; // empty or negative
  if (c[0] === 0) {
    if (c.length === 1 || (c[1]! & 0x80) === 0) return null; // zero, or a non-minimal leading zero
    return c.subarray(1);
  }
  return c;
}

function base64url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}
