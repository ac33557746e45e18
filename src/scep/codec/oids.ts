// Object identifiers the SCEP codec reads and writes. Kept in one place so a
// typo cannot make reader and writer disagree.

/** SCEP authenticated attributes (RFC 8894 section 3.2.1; VeriSign arc). */
export const SCEP_ATTR = {
  messageType: '2.16.840.1.113733.1.9.2',
  pkiStatus: '2.16.840.1.113733.1.9.3',
  failInfo: '2.16.840.1.113733.1.9.4',
  senderNonce: '2.16.840.1.113733.1.9.5',
  recipientNonce: '2.16.840.1.113733.1.9.6',
  transactionID: '2.16.840.1.113733.1.9.7',
  /** RFC 8894 section 3.2.1.4.5: id-scep-failInfoText. */
  failInfoText: '1.3.6.1.5.5.7.24.1',
} as const;

/** CMS content types and attributes (RFC 5652). */
export const CMS = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  contentTypeAttr: '1.2.840.113549.1.9.3',
  messageDigestAttr: '1.2.840.113549.1.9.4',
  signingTimeAttr: '1.2.840.113549.1.9.5',
} as const;

export const DIGEST_OID = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
} as const;

export const SIGNATURE_OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha1WithRSAEncryption: '1.2.840.113549.1.1.5',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  sha384WithRSAEncryption: '1.2.840.113549.1.1.12',
  sha512WithRSAEncryption: '1.2.840.113549.1.1.13',
  rsassaPss: '1.2.840.113549.1.1.10',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSHA1: '1.2.840.10045.4.1',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  ecdsaWithSHA384: '1.2.840.10045.4.3.3',
  ecdsaWithSHA512: '1.2.840.10045.4.3.4',
} as const;

/** Key transport: SCEP uses RSA PKCS#1 v1.5 (rsaEncryption) only. */
export const KEY_TRANSPORT_OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsaesOaep: '1.2.840.113549.1.1.7',
} as const;

export const CIPHER_OID = {
  'des-cbc': '1.3.14.3.2.7',
  'des-ede3-cbc': '1.2.840.113549.3.7',
  'aes-128-cbc': '2.16.840.1.101.3.4.1.2',
  'aes-192-cbc': '2.16.840.1.101.3.4.1.22',
  'aes-256-cbc': '2.16.840.1.101.3.4.1.42',
} as const;

/** X.509 subjectKeyIdentifier extension, for SignerIdentifier/RecipientIdentifier [0]. */
export const SUBJECT_KEY_IDENTIFIER_OID = '2.5.29.14';
