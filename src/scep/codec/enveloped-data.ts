// CMS EnvelopedData (RFC 5652 section 6) as SCEP uses it: one
// KeyTransRecipientInfo with RSA PKCS#1 v1.5 key transport, CBC content
// encryption. Opening goes through PrivateKeyOps.decryptRaw plus our own
// constant-time unpadding (pkcs1-unpad.ts); sealing uses node:crypto
// publicEncrypt, which Node 20 still allows with PKCS#1 v1.5 padding.

import { constants, publicEncrypt, randomBytes } from 'node:crypto';
import type { KeyedCertificate } from '../../x509/keys.js';
import { CIPHERS, cipherFromOid } from './algorithms.js';
import { childrenOf, contextChildren, isContext, isUniversal, octetsOf, oidOf, parseBer, smallInteger, TAG, type Node } from './ber-reader.js';
import { readCmsCertificate, identifies, issuerAndSerialNumber, publicKeyOf, readIdentifier } from './cms-certificate.js';
import { decryptContent, encryptContent } from './content-cipher.js';
import {
  algorithmIdentifier,
  contextConstructed,
  contextPrimitive,
  integer,
  nullValue,
  objectIdentifier,
  octetString,
  sequence,
  setOf,
} from '../../x509/asn1/der.js';
import { ENVELOPE_UNREADABLE, malformed, ScepMessageError, unsupportedAlgorithm } from './errors.js';
import { CMS, KEY_TRANSPORT_OID } from './oids.js';
import { unpadKeyTransport } from './pkcs1-unpad.js';
import type { ContentCipher } from './types.js';

export interface KeyTransRecipient {
  rid: ReturnType<typeof readIdentifier>;
  keyEncryptionOid: string;
  encryptedKey: Uint8Array;
}

export interface EnvelopeParts {
  recipients: KeyTransRecipient[];
  contentEncryptionOid: string;
  /** null when the algorithm is not one we support. */
  cipher: ContentCipher | null;
  iv: Uint8Array | null;
  encryptedContent: Uint8Array | null;
}

/** Reads ContentInfo { envelopedData }. Structural problems throw MESSAGE_MALFORMED. */
export function readEnvelope(der: Uint8Array): EnvelopeParts {
  const what = 'pkcsPKIEnvelope';
  const contentInfo = childrenOf(parseBer(der, what), TAG.SEQUENCE, what);
  if (oidOf(contentInfo[0], 'contentType') !== CMS.envelopedData) throw malformed(`${what}: not envelopedData`);
  const [envelopedData] = contextChildren(contentInfo[1], 0, what);
  const fields = childrenOf(envelopedData, TAG.SEQUENCE, 'EnvelopedData');
  smallInteger(fields[0], 'EnvelopedData version');
  let i = 1;
  if (isContext(fields[i], 0)) i++; // originatorInfo
  const recipients: KeyTransRecipient[] = [];
  for (const ri of childrenOf(fields[i++], TAG.SET, 'recipientInfos')) {
    // KeyTransRecipientInfo is the untagged SEQUENCE choice; kari/kekri/pwri/ori are [1]..[4].
    if (!isUniversal(ri, TAG.SEQUENCE)) continue;
    const r = childrenOf(ri, TAG.SEQUENCE, 'KeyTransRecipientInfo');
    smallInteger(r[0], 'KeyTransRecipientInfo version');
    recipients.push({
      rid: readIdentifier(r[1], 'rid'),
      keyEncryptionOid: oidOf(childrenOf(r[2], TAG.SEQUENCE, 'keyEncryptionAlgorithm')[0], 'keyEncryptionAlgorithm'),
      encryptedKey: octetsOf(expectOctetString(r[3], 'encryptedKey'), 'encryptedKey'),
    });
  }
  const eci = childrenOf(fields[i], TAG.SEQUENCE, 'EncryptedContentInfo');
  oidOf(eci[0], 'EncryptedContentInfo contentType');
  const alg = childrenOf(eci[1], TAG.SEQUENCE, 'contentEncryptionAlgorithm');
  const contentEncryptionOid = oidOf(alg[0], 'contentEncryptionAlgorithm');
  const cipher = cipherFromOid(contentEncryptionOid);
  const iv = cipher && isUniversal(alg[1], TAG.OCTET_STRING) ? octetsOf(alg[1], 'IV') : null;
  const encryptedContent = isContext(eci[2], 0) ? octetsOf(eci[2], 'encryptedContent') : null;
  return { recipients, contentEncryptionOid, cipher, iv, encryptedContent };
}

function expectOctetString(node: Node | undefined, what: string): Node {
  if (!isUniversal(node, TAG.OCTET_STRING)) throw malformed(`${what}: expected OCTET STRING`);
  return node;
}

/**
 * Decrypts the envelope with the recipient's key. Every failure after the
 * structure was understood is DECRYPTION_FAILED, including a key-transport
 * padding defect (indistinguishable by design) and a wrong recipient.
 */
export function openEnvelope(env: EnvelopeParts, recipient: KeyedCertificate): { content: Uint8Array; cipher: ContentCipher } {
  const failed = (detail: string): ScepMessageError => new ScepMessageError('DECRYPTION_FAILED', null, detail);
  const cipher = env.cipher;
  if (!cipher) throw unsupportedAlgorithm(`content encryption algorithm ${env.contentEncryptionOid} is not supported`);
  const spec = CIPHERS[cipher];
  if (!env.iv || env.iv.length !== spec.ivLength) throw malformed(`${cipher}: missing or bad IV`);
  if (!env.encryptedContent) throw malformed('pkcsPKIEnvelope has no encryptedContent');

  const certificate = readCmsCertificate(recipient.certificate);
  const ri = env.recipients.find((r) => identifies(r.rid, certificate));
  if (!ri) throw failed('the envelope is not encrypted to the RA certificate');
  if (ri.keyEncryptionOid !== KEY_TRANSPORT_OID.rsaEncryption) {
    throw unsupportedAlgorithm(`key transport algorithm ${ri.keyEncryptionOid} is not supported`);
  }
  const decryptRaw = recipient.key.decryptRaw;
  if (!decryptRaw) throw failed('the RA key cannot decrypt (not an RSA key)');
  const bits = publicKeyOf(certificate).asymmetricKeyDetails?.modulusLength ?? 0;
  const modulusLength = Math.ceil(bits / 8);

  let em: Uint8Array;
  try {
    em = decryptRaw.call(recipient.key, ri.encryptedKey);
  } catch {
    em = new Uint8Array(0); // e.g. ciphertext >= modulus: same path as a padding defect
  }
  const cek =
    ri.encryptedKey.length === modulusLength
      ? unpadKeyTransport(em, modulusLength, spec.keyLength)
      : unpadKeyTransport(new Uint8Array(0), 0, spec.keyLength); // wrong size: random CEK
  try {
    return { content: decryptContent(cipher, cek, env.iv, env.encryptedContent), cipher };
  } catch {
    throw failed(ENVELOPE_UNREADABLE);
  }
}

/**
 * Encrypts `content` to the holder of `recipientCertificate` (RSA only: SCEP
 * key transport). Returns ContentInfo { envelopedData } DER.
 */
export function sealEnvelope(content: Uint8Array, recipientCertificate: Uint8Array, cipher: ContentCipher): Uint8Array {
  const info = readCmsCertificate(recipientCertificate);
  const publicKey = publicKeyOf(info);
  if (publicKey.asymmetricKeyType !== 'rsa') {
    throw unsupportedAlgorithm(`cannot encrypt to a ${String(publicKey.asymmetricKeyType)} key: SCEP key transport needs RSA`);
  }
  const spec = CIPHERS[cipher];
  const cek = new Uint8Array(randomBytes(spec.keyLength));
  if (cipher === 'des-cbc' || cipher === 'des-ede3-cbc') setOddParity(cek);
  const iv = new Uint8Array(randomBytes(spec.ivLength));
  const encryptedContent = encryptContent(cipher, cek, iv, content);
  const encryptedKey = new Uint8Array(publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, cek));

  const recipientInfo = sequence(
    integer(0),
    issuerAndSerialNumber(info),
    algorithmIdentifier(KEY_TRANSPORT_OID.rsaEncryption, nullValue()),
    octetString(encryptedKey),
  );
  const envelopedData = sequence(
    integer(0),
    setOf([recipientInfo]),
    sequence(objectIdentifier(CMS.data), algorithmIdentifier(spec.oid, octetString(iv)), contextPrimitive(0, encryptedContent)),
  );
  return sequence(objectIdentifier(CMS.envelopedData), contextConstructed(0, envelopedData));
}

// DES keys carry odd parity in the low bit of each octet; OpenSSL ignores it,
// stricter libraries (Java's, some HSMs) reject keys without it.
function setOddParity(key: Uint8Array): void {
  for (let i = 0; i < key.length; i++) {
    let b = (key[i] as number) & 0xfe;
    let ones = 0;
    for (let x = b; x; x >>= 1) ones += x & 1;
    if (ones % 2 === 0) b |= 1;
    key[i] = b;
  }
}
