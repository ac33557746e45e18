// CMS SignedData (RFC 5652 section 5) as SCEP uses it: one signer, signed
// attributes always present. Reading verifies the signature over the signed
// attributes exactly as received; writing signs through PrivateKeyOps so that
// a PKCS#11 token can hold the RA key.

import { createHash, timingSafeEqual, verify as cryptoVerify, constants } from 'node:crypto';
import type { HashName, KeyedCertificate } from '../../x509/keys.js';
import { digestAlgorithmIdentifier, digestFromOid, signatureAlgorithmIdentifier, signatureKeyType } from './algorithms.js';
import {
  childrenOf,
  contextChildren,
  isContext,
  isUniversal,
  octetsOf,
  oidOf,
  parseBer,
  rawBytes,
  smallInteger,
  TAG,
  type Node,
} from './ber-reader.js';
import {
  attribute,
  contextConstructed,
  integer,
  objectIdentifier,
  octetString,
  sequence,
  setOf,
  sortDer,
  tlv,
  time,
} from '../../x509/asn1/der.js';
import { readCmsCertificate, identifies, issuerAndSerialNumber, publicKeyOf, readIdentifier, type CmsCertificate } from './cms-certificate.js';
import { malformed, ScepMessageError, unsupportedAlgorithm } from './errors.js';
import { CMS } from './oids.js';

export interface SignedAttribute {
  oid: string;
  values: Node[];
}

export interface SignerInfoParts {
  sid: ReturnType<typeof readIdentifier>;
  digestOid: string;
  signatureAlgorithmOid: string;
  signedAttributes: SignedAttribute[];
  /** The signed attributes as received, with the [0] tag replaced by SET: the bytes the signature covers. */
  signedAttributesBytes: Uint8Array;
  signature: Uint8Array;
}

export interface SignedDataParts {
  eContentType: string;
  /** Content octets; null when eContent is absent. */
  eContent: Uint8Array | null;
  /** DER of every X.509 certificate in `certificates` (other choices skipped), in received order. */
  certificates: Uint8Array[];
  signerInfos: SignerInfoParts[];
}

/** Reads ContentInfo { signedData }. Structural problems throw MESSAGE_MALFORMED. */
export function readSignedData(der: Uint8Array, what = 'SignedData'): SignedDataParts {
  const contentInfo = childrenOf(parseBer(der, what), TAG.SEQUENCE, `${what} ContentInfo`);
  if (oidOf(contentInfo[0], 'contentType') !== CMS.signedData) throw malformed(`${what}: ContentInfo is not signedData`);
  const [signedData] = contextChildren(contentInfo[1], 0, `${what} content`);
  const fields = childrenOf(signedData, TAG.SEQUENCE, what);
  smallInteger(fields[0], `${what} version`);
  childrenOf(fields[1], TAG.SET, `${what} digestAlgorithms`);
  const encap = childrenOf(fields[2], TAG.SEQUENCE, 'encapContentInfo');
  const eContentType = oidOf(encap[0], 'eContentType');
  let eContent: Uint8Array | null = null;
  if (encap[1] !== undefined) {
    const [content] = contextChildren(encap[1], 0, 'eContent');
    if (!isUniversal(content, TAG.OCTET_STRING)) throw malformed('eContent is not an OCTET STRING');
    eContent = octetsOf(content, 'eContent');
  }
  let i = 3;
  const certificates: Uint8Array[] = [];
  if (isContext(fields[i], 0)) {
    for (const choice of contextChildren(fields[i], 0, 'certificates')) {
      // Only plain certificates (SEQUENCE); attribute certs etc. are [n]-tagged.
      if (isUniversal(choice, TAG.SEQUENCE)) certificates.push(rawBytes(choice));
    }
    i++;
  }
  if (isContext(fields[i], 1)) i++; // crls: not used by SCEP requests
  const signerInfos = childrenOf(fields[i], TAG.SET, 'signerInfos').map(readSignerInfo);
  if (fields.length !== i + 1) throw malformed(`${what}: unexpected fields after signerInfos`);
  return { eContentType, eContent, certificates, signerInfos };
}

function readSignerInfo(node: Node): SignerInfoParts {
  const f = childrenOf(node, TAG.SEQUENCE, 'SignerInfo');
  smallInteger(f[0], 'SignerInfo version');
  const sid = readIdentifier(f[1], 'SignerInfo sid');
  const digestOid = oidOf(childrenOf(f[2], TAG.SEQUENCE, 'digestAlgorithm')[0], 'digestAlgorithm');
  if (!isContext(f[3], 0)) throw malformed('SignerInfo has no signed attributes');
  const attrsNode = f[3];
  const signedAttributes = contextChildren(attrsNode, 0, 'signedAttrs').map((a) => {
    const parts = childrenOf(a, TAG.SEQUENCE, 'Attribute');
    return { oid: oidOf(parts[0], 'attrType'), values: childrenOf(parts[1], TAG.SET, 'attrValues') };
  });
  // RFC 5652 5.4: the signature covers the DER of the SET OF, i.e. the [0]
  // element with its tag byte changed to 0x31. Using the received bytes (not a
  // re-encoding) accepts signers that do not sort their attributes (Go clients).
  const signedAttributesBytes = rawBytes(attrsNode);
  signedAttributesBytes[0] = 0x31;
  const signatureAlgorithmOid = oidOf(childrenOf(f[4], TAG.SEQUENCE, 'signatureAlgorithm')[0], 'signatureAlgorithm');
  const signature = octetsOf(expectOctets(f[5]), 'signature');
  return { sid, digestOid, signatureAlgorithmOid, signedAttributes, signedAttributesBytes, signature };
}

function expectOctets(node: Node | undefined): Node {
  if (!isUniversal(node, TAG.OCTET_STRING)) throw malformed('SignerInfo signature is not an OCTET STRING');
  return node;
}

/** The one signer SCEP messages carry, and its certificate from the SignedData. */
export function soleSigner(sd: SignedDataParts): { signer: SignerInfoParts; certificate: CmsCertificate | null } {
  if (sd.signerInfos.length !== 1) throw malformed(`expected exactly one SignerInfo, found ${sd.signerInfos.length}`);
  const signer = sd.signerInfos[0] as SignerInfoParts;
  for (const der of sd.certificates) {
    let info: CmsCertificate;
    try {
      info = readCmsCertificate(der);
    } catch {
      continue; // an unreadable extra certificate does not stop us finding the signer's
    }
    if (identifies(signer.sid, info)) return { signer, certificate: info };
  }
  return { signer, certificate: null };
}

/** Values of a signed attribute; null when the attribute is absent. */
export function attributeValues(signer: SignerInfoParts, oid: string): Node[] | null {
  const matches = signer.signedAttributes.filter((a) => a.oid === oid);
  if (matches.length > 1) throw malformed(`signed attribute ${oid} appears more than once`);
  return matches[0]?.values ?? null;
}

/** Exactly one value, as RFC 5652/8894 require for every attribute we use. */
export function singleAttribute(signer: SignerInfoParts, oid: string, name: string): Node | null {
  const values = attributeValues(signer, oid);
  if (values === null) return null;
  // A SET with no value is what node-forge's PKCS#7 writer emits for SCEP attributes.
  if (values.length !== 1) throw malformed(`signed attribute ${name} has ${values.length} values, expected 1`);
  return values[0] as Node;
}

export function signerDigest(signer: SignerInfoParts): HashName {
  const digest = digestFromOid(signer.digestOid);
  if (!digest) throw unsupportedAlgorithm(`digest algorithm ${signer.digestOid} is not supported`);
  return digest;
}

/**
 * Verifies contentType, messageDigest and the signature with the given
 * certificate's key. Throws UNSUPPORTED_ALGORITHM or MESSAGE_SIGNATURE_INVALID.
 */
export function verifySigner(sd: SignedDataParts, signer: SignerInfoParts, certificate: CmsCertificate): void {
  const digest = signerDigest(signer);
  const keyType = signatureKeyType(signer.signatureAlgorithmOid);
  if (!keyType) throw unsupportedAlgorithm(`signature algorithm ${signer.signatureAlgorithmOid} is not supported`);
  const invalid = (detail: string): ScepMessageError => new ScepMessageError('MESSAGE_SIGNATURE_INVALID', null, detail);

  const contentType = singleAttribute(signer, CMS.contentTypeAttr, 'contentType');
  if (!contentType || oidOf(contentType, 'contentType attribute') !== sd.eContentType) {
    throw invalid('contentType attribute missing or different from eContentType');
  }
  const messageDigest = singleAttribute(signer, CMS.messageDigestAttr, 'messageDigest');
  if (!messageDigest) throw invalid('messageDigest attribute missing');
  const expected = createHash(digest).update(sd.eContent ?? new Uint8Array(0)).digest();
  const received = octetsOf(messageDigest, 'messageDigest attribute');
  if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
    throw invalid('messageDigest does not match the content');
  }

  const key = publicKeyOf(certificate);
  if (key.asymmetricKeyType !== keyType) {
    throw invalid(`signature algorithm is ${keyType} but the signer key is ${String(key.asymmetricKeyType)}`);
  }
  let ok = false;
  try {
    ok = cryptoVerify(
      digest,
      signer.signedAttributesBytes,
      keyType === 'rsa' ? { key, padding: constants.RSA_PKCS1_PADDING } : { key, dsaEncoding: 'der' },
      signer.signature,
    );
  } catch {
    ok = false;
  }
  if (!ok) throw invalid('the signature does not verify with the signer certificate');
}

export interface SignArgs {
  /** Content octets; null = eContent absent (signature over empty content). */
  eContent: Uint8Array | null;
  /** certificates field, caller's order kept (not DER-sorted; signer first is conventional). */
  certificates: Uint8Array[];
  signer: KeyedCertificate;
  digest: HashName;
  /** Extra encoded Attribute elements (SCEP attributes). */
  attributes: Uint8Array[];
  signingTime?: Date;
  /**
   * DER requires sorted SET OF. `false` keeps a deliberately unsorted order,
   * only to imitate clients that do not sort (tests, simulators).
   */
  sortAttributes?: boolean;
}

/** Writes ContentInfo { SignedData } (DER), signed by args.signer with eContentType id-data. */
export async function writeSignedData(args: SignArgs): Promise<Uint8Array> {
  const signerInfo = readCmsCertificate(args.signer.certificate);
  const content = args.eContent ?? new Uint8Array(0);
  const attrs = [
    attribute(CMS.contentTypeAttr, objectIdentifier(CMS.data)),
    attribute(CMS.signingTimeAttr, time(args.signingTime ?? new Date())),
    attribute(CMS.messageDigestAttr, octetString(new Uint8Array(createHash(args.digest).update(content).digest()))),
    ...args.attributes,
  ];
  const sorted = sortDer(attrs);
  const ordered = args.sortAttributes === false ? [...sorted].reverse() : sorted;
  // Sign the SET OF encoding; transmit the same octets under [0] IMPLICIT.
  const toSign = tlv(0x31, ...ordered);
  const signature = await args.signer.key.sign(toSign, args.digest);

  const signerInfoDer = sequence(
    integer(1),
    issuerAndSerialNumber(signerInfo),
    digestAlgorithmIdentifier(args.digest),
    contextConstructed(0, ...ordered),
    signatureAlgorithmIdentifier(args.signer.key.algorithm, args.digest),
    octetString(signature),
  );
  const encap =
    args.eContent === null
      ? sequence(objectIdentifier(CMS.data))
      : sequence(objectIdentifier(CMS.data), contextConstructed(0, octetString(args.eContent)));
  const signedData = sequence(
    integer(1),
    setOf([digestAlgorithmIdentifier(args.digest)]),
    encap,
    ...(args.certificates.length > 0 ? [contextConstructed(0, ...args.certificates)] : []),
    setOf([signerInfoDer]),
  );
  return sequence(objectIdentifier(CMS.signedData), contextConstructed(0, signedData));
}

/** Degenerate (certs-only) SignedData: no signers, no content (RFC 8894 section 3.4). */
export function writeCertsOnlySignedData(certificates: readonly Uint8Array[], crls: readonly Uint8Array[] = []): Uint8Array {
  const signedData = sequence(
    integer(1),
    setOf([]),
    sequence(objectIdentifier(CMS.data)),
    // The certificates SET keeps the caller's order on purpose (not DER-sorted):
    // micromdm's client takes the first certificate as the issued one.
    // Absent rather than empty when there are none (a GetCRL reply).
    ...(certificates.length > 0 || crls.length === 0 ? [contextConstructed(0, ...certificates)] : []),
    // crls [1] IMPLICIT RevocationInfoChoices: the GetCRL reply (RFC 8894 3.3.4).
    ...(crls.length > 0 ? [contextConstructed(1, ...crls)] : []),
    setOf([]),
  );
  return sequence(objectIdentifier(CMS.signedData), contextConstructed(0, signedData));
}
