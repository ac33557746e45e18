import 'reflect-metadata';
import { KeyObject, X509Certificate, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { readCertRep, readCertsOnly, writePkiRequest } from '../scep/codec/index.js';
import type { CertRepResult } from '../scep/codec/index.js';
import type { ContentCipher } from '../scep/codec/index.js';
import type { HashName, KeyedCertificate } from '../x509/keys.js';
import { softwareKey } from '../x509/software-key.js';

// A device-side SCEP client: what a phone or laptop does after it receives a
// profile. The device simulators (and the end-to-end tests) use it; it goes
// over real HTTP to the gateway and generates a real key pair per enrollment.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type SimSan = { type: 'upn' | 'email' | 'dns' | 'uri'; value: string };

export interface DeviceKey {
  keys: webcrypto.CryptoKeyPair;
  keyObject: KeyObject;
}

export interface CsrOptions {
  subject: string; // e.g. "CN=laptop-1, O=Contoso"
  challenge?: string;
  sans?: SimSan[];
  keyUsage?: x509.KeyUsageFlags;
  extendedKeyUsages?: string[];
}

export interface EnrollOptions extends CsrOptions {
  scepUrl: string;
  key?: DeviceKey;
  keyAlgorithm?: 'RSA' | 'EC';
  keySize?: number;
  cipher?: ContentCipher;
  digest?: HashName;
  transactionId?: string;
  method?: 'POST' | 'GET';
  /** RenewalReq: sign with an existing certificate (and its key) instead of a self-signed one. */
  renewWith?: { certificate: Uint8Array; key: DeviceKey };
  /**
   * Override the messageType. With renewWith, 'PKCSReq' sends a PKCSReq signed
   * by the existing certificate: how draft-era clients (certmonger 0.79) renew.
   */
  messageType?: 'PKCSReq' | 'RenewalReq';
  /** Send this CSR instead of building one (tampering tests). */
  csrOverride?: Uint8Array;
  /** Encrypt to this RA certificate (one fetched earlier) instead of asking GetCACert now. */
  raCertificate?: Uint8Array;
}

export interface EnrollResult {
  status: 'SUCCESS' | 'FAILURE' | 'PENDING';
  failInfo?: string;
  failInfoText?: string;
  transactionId: string;
  certificate?: Uint8Array;
  key: DeviceKey;
  csr: Uint8Array;
  signer: KeyedCertificate;
  raw: Uint8Array;
}

export async function generateDeviceKey(algorithm: 'RSA' | 'EC' = 'RSA', size = 2048): Promise<DeviceKey> {
  const alg =
    algorithm === 'RSA'
      ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: size, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
      : { name: 'ECDSA', namedCurve: size === 384 ? 'P-384' : 'P-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  return { keys, keyObject: KeyObject.from(keys.privateKey) };
}

function signingAlgorithm(key: DeviceKey) {
  return key.keyObject.asymmetricKeyType === 'ec' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
}

const SAN_TYPE: Record<SimSan['type'], x509.GeneralNameType> = { upn: 'upn', email: 'email', dns: 'dns', uri: 'url' };

export async function buildCsr(key: DeviceKey, o: CsrOptions): Promise<Uint8Array> {
  const extensions: x509.Extension[] = [];
  if (o.sans?.length) extensions.push(new x509.SubjectAlternativeNameExtension(o.sans.map((s) => ({ type: SAN_TYPE[s.type], value: s.value }))));
  if (o.keyUsage !== undefined) extensions.push(new x509.KeyUsagesExtension(o.keyUsage, true));
  if (o.extendedKeyUsages?.length) extensions.push(new x509.ExtendedKeyUsageExtension(o.extendedKeyUsages));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: o.subject,
    keys: key.keys,
    signingAlgorithm: signingAlgorithm(key),
    extensions,
    attributes: o.challenge !== undefined ? [new x509.ChallengePasswordAttribute(o.challenge)] : [],
  });
  return new Uint8Array(csr.rawData);
}

async function selfSigned(key: DeviceKey, subject: string): Promise<Uint8Array> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex').replace(/^[89a-f]/, '1'),
    name: subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 24 * 3600_000),
    keys: key.keys,
    signingAlgorithm: signingAlgorithm(key),
  });
  return new Uint8Array(cert.rawData);
}

/** GetCACert: returns the RA (the non-CA certificate) and the CA. */
export async function getCaCerts(scepUrl: string): Promise<{ ra: Uint8Array; ca: Uint8Array; all: Uint8Array[] }> {
  const res = await fetch(`${scepUrl}?operation=GetCACert`);
  if (!res.ok) throw new Error(`GetCACert: HTTP ${res.status}`);
  const all = readCertsOnly(new Uint8Array(await res.arrayBuffer()));
  const ra = all.find((c) => !new X509Certificate(c).ca);
  const ca = all.find((c) => new X509Certificate(c).ca);
  if (!ra || !ca) throw new Error('GetCACert: expected an RA and a CA certificate');
  return { ra, ca, all };
}

export async function sendPkiMessage(scepUrl: string, der: Uint8Array, method: 'POST' | 'GET' = 'POST'): Promise<Uint8Array> {
  const res =
    method === 'POST'
      ? await fetch(`${scepUrl}?operation=PKIOperation`, { method: 'POST', body: der, headers: { 'content-type': 'application/x-pki-message' } })
      : await fetch(`${scepUrl}?operation=PKIOperation&message=${encodeURIComponent(Buffer.from(der).toString('base64'))}`);
  const body = new Uint8Array(await res.arrayBuffer());
  if (!res.ok) throw new Error(`PKIOperation: HTTP ${res.status}: ${Buffer.from(body).toString('utf8').slice(0, 200)}`);
  return body;
}

export async function scepEnroll(o: EnrollOptions): Promise<EnrollResult> {
  const ra = o.raCertificate ?? (await getCaCerts(o.scepUrl)).ra;
  const key = o.key ?? (await generateDeviceKey(o.keyAlgorithm ?? 'RSA', o.keySize ?? 2048));
  const csr = o.csrOverride ?? (await buildCsr(key, o));
  const signer: KeyedCertificate = o.renewWith
    ? { certificate: o.renewWith.certificate, key: softwareKey(o.renewWith.key.keyObject) }
    : { certificate: await selfSigned(key, o.subject), key: softwareKey(key.keyObject) };
  const transactionId = o.transactionId ?? randomBytes(16).toString('hex');
  const req = await writePkiRequest({
    messageType: o.messageType ?? (o.renewWith ? 'RenewalReq' : 'PKCSReq'),
    transactionId,
    csr,
    signer,
    recipient: ra,
    cipher: o.cipher ?? 'aes-256-cbc',
    digest: o.digest ?? 'sha256',
  });
  const raw = await sendPkiMessage(o.scepUrl, req, o.method);
  const rep = await readCertRep(raw, signer, ra);
  return {
    status: rep.status,
    failInfo: rep.failInfo,
    failInfoText: rep.failInfoText,
    transactionId: rep.transactionId,
    certificate: rep.certificates.find((c) => !new X509Certificate(c).ca),
    key,
    csr,
    signer,
    raw,
  };
}

/** DER Name of a certificate's subject. */
function subjectName(der: Uint8Array): Uint8Array {
  return new Uint8Array(new x509.X509Certificate(der).subjectName.toArrayBuffer());
}

/**
 * CertPoll (GetCertInitial) for a PENDING enrollment, signed with the same
 * certificate as the request. IssuerAndSubject defaults to the CA's name and
 * the signer's subject (the subject asked for), as RFC 8894 section 3.3.3 has it.
 */
export async function scepPoll(scepUrl: string, pending: EnrollResult, issuerAndSubject?: { issuer: Uint8Array; subject: Uint8Array }) {
  const { ra, ca } = await getCaCerts(scepUrl);
  issuerAndSubject ??= { issuer: subjectName(ca), subject: subjectName(pending.signer.certificate) };
  const req = await writePkiRequest({
    messageType: 'CertPoll',
    transactionId: pending.transactionId,
    issuerAndSubject,
    signer: pending.signer,
    recipient: ra,
    cipher: 'aes-256-cbc',
    digest: 'sha256',
  });
  const rep = await readCertRep(await sendPkiMessage(scepUrl, req), pending.signer, ra);
  return { ...rep, certificate: rep.certificates.find((c) => !new X509Certificate(c).ca) };
}

/**
 * GetCRL (RFC 8894 3.3.4) as a device or relying party sends it: signed with
 * `requester` (a certificate we issued, or a fresh self-signed one), naming
 * the certificate whose CRL is wanted by issuer and serial. The issuer
 * defaults to the CA's name from GetCACert.
 */
export async function scepGetCrl(
  scepUrl: string,
  o: { serialNumber: Uint8Array; issuer?: Uint8Array; requester?: KeyedCertificate; transactionId?: string },
): Promise<CertRepResult> {
  const { ra, ca } = await getCaCerts(scepUrl);
  let signer = o.requester;
  if (!signer) {
    const key = await generateDeviceKey();
    signer = { certificate: await selfSigned(key, 'CN=crl-fetcher'), key: softwareKey(key.keyObject) };
  }
  const req = await writePkiRequest({
    messageType: 'GetCRL',
    transactionId: o.transactionId ?? randomBytes(16).toString('hex'),
    issuerAndSerial: { issuer: o.issuer ?? subjectName(ca), serialNumber: o.serialNumber },
    signer,
    recipient: ra,
    cipher: 'aes-256-cbc',
    digest: 'sha256',
  });
  return readCertRep(await sendPkiMessage(scepUrl, req), signer, ra);
}
