// Private-key operations live behind this one small interface so that a
// PKCS#11 token (SoftHSM, an HSM) can replace the software keys later without
// touching the codec or the CA. Software keys use node:crypto (OpenSSL), never
// pure-JS RSA: enrollment speed depends on it.

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export interface PrivateKeyOps {
  readonly algorithm: 'RSA' | 'EC';
  /** RSA: PKCS#1 v1.5 signature. EC: DER-encoded ECDSA signature. */
  sign(data: Uint8Array, hash: HashName): Promise<Uint8Array>;
  /**
   * RSA only: m = c^d mod n, no padding removed (Node 20 refuses PKCS#1 v1.5
   * private decryption; the codec strips the padding itself in constant time).
   */
  decryptRaw?(data: Uint8Array): Uint8Array;
}

/** A certificate (DER) and the key that belongs to it. */
export interface KeyedCertificate {
  certificate: Uint8Array;
  key: PrivateKeyOps;
}
