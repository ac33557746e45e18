// Test PKI for the SCEP codec tests: a CA, an RA certificate it issued (the
// RA is a separate certificate here, unlike the fixture where the CA is its
// own RA), requester self-signed certificates and CSRs. Built with
// @peculiar/x509 on WebCrypto; the private keys are then wrapped with
// softwareKey() so every codec signature goes through PrivateKeyOps.

import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, X509Certificate, type webcrypto as WebCrypto } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyedCertificate } from '../../src/x509/keys.js';
import { softwareKey } from '../../src/x509/software-key.js';

type CryptoKeyPair = WebCrypto.CryptoKeyPair;
type CryptoKey = WebCrypto.CryptoKey;
type SigningAlgorithm = WebCrypto.Algorithm | WebCrypto.EcdsaParams;

const webcrypto = globalThis.crypto as unknown as WebCrypto.Crypto;
x509.cryptoProvider.set(webcrypto as never);

// Real SCEP messages captured from micromdm's client and server, with the
// throwaway keys that open them: ../fixtures/scep/README.md says what each is.
export const FIXTURES = join(import.meta.dirname, '../fixtures/scep/');
export const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIXTURES, name)));

export interface TestIdentity extends KeyedCertificate {
  keys: CryptoKeyPair;
  x509: x509.X509Certificate;
}

const RSA: WebCrypto.RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};
const EC: WebCrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const signingAlgorithm = (kind: 'RSA' | 'EC'): SigningAlgorithm =>
  kind === 'RSA' ? ({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as SigningAlgorithm) : { name: 'ECDSA', hash: 'SHA-256' };

export async function generateKeys(kind: 'RSA' | 'EC'): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(kind === 'RSA' ? RSA : EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyed(cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<TestIdentity> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return {
    certificate: new Uint8Array(cert.rawData),
    key: softwareKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })),
    keys,
    x509: cert,
  };
}

const hour = 3600_000;

let pkiCounter = 0;

export async function makeTestPki(): Promise<{ ca: TestIdentity; ra: TestIdentity }> {
  const n = ++pkiCounter; // distinct names per PKI, so identifiers never collide across PKIs
  const caKeys = await generateKeys('RSA');
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=Codec Test CA ${n}, O=mdm-gateway tests`,
    notBefore: new Date(Date.now() - hour),
    notAfter: new Date(Date.now() + 24 * hour),
    keys: caKeys,
    signingAlgorithm: signingAlgorithm('RSA'),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const raKeys = await generateKeys('RSA');
  const raCert = await x509.X509CertificateGenerator.create({
    serialNumber: '1002',
    subject: `CN=Codec Test RA ${n}, O=mdm-gateway tests`,
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - hour),
    notAfter: new Date(Date.now() + 24 * hour),
    publicKey: raKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: signingAlgorithm('RSA'),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // digitalSignature to sign CertReps, keyEncipherment to receive the envelope CEK.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      await x509.SubjectKeyIdentifierExtension.create(raKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { ca: await keyed(caCert, caKeys), ra: await keyed(raCert, raKeys) };
}

/** The requester's transient self-signed certificate, as SCEP clients make one. */
export async function makeRequester(kind: 'RSA' | 'EC', cn = 'device-1'): Promise<TestIdentity> {
  const keys = await generateKeys(kind);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '7f01',
    name: `CN=${cn}`,
    notBefore: new Date(Date.now() - hour),
    notAfter: new Date(Date.now() + hour),
    keys,
    signingAlgorithm: signingAlgorithm(kind),
  });
  return keyed(cert, keys);
}

export async function makeCsr(identity: TestIdentity, kind: 'RSA' | 'EC', challenge = 's3cr3t'): Promise<Uint8Array> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: identity.x509.subject,
    keys: identity.keys,
    signingAlgorithm: signingAlgorithm(kind),
    attributes: [new x509.ChallengePasswordAttribute(challenge)],
  });
  return new Uint8Array(csr.rawData);
}

/** An end-entity certificate for the requester's key, issued by the test CA. */
export async function issue(ca: TestIdentity, subjectKey: CryptoKey, cn = 'device-1'): Promise<Uint8Array> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '2a2b2c',
    subject: `CN=${cn}`,
    issuer: ca.x509.subject,
    notBefore: new Date(Date.now() - hour),
    notAfter: new Date(Date.now() + 24 * hour),
    publicKey: subjectKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: signingAlgorithm('RSA'),
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true)],
  });
  return new Uint8Array(cert.rawData);
}

export const pem = (der: Uint8Array): string => new X509Certificate(der).toString();
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Runs openssl with files in a fresh temp dir; returns status, stdout and stderr. */
const tempDirs: string[] = [];
/** Call from afterAll in suites that use openssl(). */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function openssl(args: string[], files: Record<string, Uint8Array | string>, input?: Uint8Array) {
  const dir = mkdtempSync(join(tmpdir(), 'scep-codec-'));
  tempDirs.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  try {
    const stdout = execFileSync('openssl', args, { cwd: dir, input, stdio: ['pipe', 'pipe', 'pipe'] });
    return { status: 0, stdout: stdout.toString('latin1'), stderr: '', dir };
  } catch (e) {
    const err = e as { status: number; stdout: Buffer; stderr: Buffer };
    return { status: err.status, stdout: err.stdout?.toString('latin1') ?? '', stderr: err.stderr?.toString() ?? '', dir };
  }
}

// ---------------------------------------------------------------------------
// BER re-encoding, to imitate Apple devices: indefinite lengths everywhere and
// OCTET STRINGs split into constructed chunks. Signed attributes and
// certificates keep their DER bytes (a real signer signs the DER of the
// attributes; certificates travel as opaque blobs).

import * as asn1js from 'asn1js';

interface BerNode {
  idBlock: { tagClass: number; tagNumber: number; isConstructed: boolean };
  valueBlock: { value?: BerNode[]; valueHexView?: Uint8Array };
  valueBeforeDecodeView: Uint8Array;
}

const EOC = Uint8Array.of(0, 0);
const cat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

function derTlv(tag: number, content: Uint8Array): Uint8Array {
  const len = content.length;
  const lenBytes =
    len < 0x80 ? [len] : len < 0x100 ? [0x81, len] : len < 0x10000 ? [0x82, len >> 8, len & 0xff] : [0x83, len >> 16, (len >> 8) & 0xff, len & 0xff];
  return cat([Uint8Array.of(tag, ...lenBytes), content]);
}

function chunked(constructedTag: number, content: Uint8Array, size: number): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(constructedTag, 0x80)];
  for (let i = 0; i < content.length; i += size) parts.push(derTlv(0x04, content.subarray(i, i + size)));
  parts.push(EOC);
  return cat(parts);
}

/** Generic BER-ification of one element; `keep` returns true for elements to copy verbatim. */
export function berify(node: BerNode, keep: (n: BerNode, parent: BerNode | null) => boolean = () => false, parent: BerNode | null = null): Uint8Array {
  const raw = node.valueBeforeDecodeView;
  if (keep(node, parent)) return raw.slice();
  const tagByte = raw[0] as number;
  if (node.idBlock.isConstructed) {
    const children = (node.valueBlock.value ?? []).map((c) => berify(c, keep, node));
    return cat([Uint8Array.of(tagByte, 0x80), ...children, EOC]);
  }
  const content = node.valueBlock.valueHexView ?? new Uint8Array(0);
  const isOctets = node.idBlock.tagClass === 1 && node.idBlock.tagNumber === 4;
  const isImplicitOctets = node.idBlock.tagClass === 3 && node.idBlock.tagNumber === 0; // encryptedContent [0]
  if ((isOctets || isImplicitOctets) && content.length > 40) return chunked(tagByte | 0x20, content, 40);
  return raw.slice();
}

export function parseForBer(der: Uint8Array): BerNode {
  const { result } = asn1js.fromBER(der);
  return result as unknown as BerNode;
}

/**
 * BER form of a pkiMessage: keeps certificates and the signed attributes as
 * DER, everything else indefinite-length with chunked OCTET STRINGs.
 */
export function berPkiMessage(der: Uint8Array): Uint8Array {
  const keep = (n: BerNode, parent: BerNode | null): boolean => {
    if (!parent) return false;
    // certificates [0] IMPLICIT SET OF Certificate: keep each certificate
    const parentIsCertSet = parent.idBlock.tagClass === 3 && parent.idBlock.tagNumber === 0 &&
      (parent.valueBlock.value ?? []).every((c) => c.idBlock.tagClass === 1 && c.idBlock.tagNumber === 16 && c.valueBeforeDecodeView.length > 300);
    if (parentIsCertSet && n.idBlock.tagNumber === 16) return true;
    // signedAttrs [0] inside a SignerInfo (a SEQUENCE whose first child is INTEGER version)
    // (SignedData also has a [0] at index 3, but its index 1 is the digestAlgorithms SET)
    const siblings = parent.valueBlock.value ?? [];
    return (
      parent.idBlock.tagClass === 1 && parent.idBlock.tagNumber === 16 &&
      siblings[0]?.idBlock.tagNumber === 2 && siblings[1]?.idBlock.tagNumber !== 17 &&
      siblings[3] === n && n.idBlock.tagClass === 3 && n.idBlock.tagNumber === 0
    );
  };
  return berify(parseForBer(der), keep);
}
