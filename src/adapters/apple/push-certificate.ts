import 'reflect-metadata';
import { X509Certificate, createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import forge from 'node-forge';

// The APNs MDM push certificate (from identity.apple.com/pushcert): the
// certificate and its private key, PEM or PKCS#12. Its subject UID is the
// push topic the enrollment profile names. The key is a secret: it goes into
// the settings store and to the TLS client, never into a log, an audit entry
// or an API answer.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const PUSH_CERTIFICATE_SETTING = 'push-certificate';
const UID_OID = '0.9.2342.19200300.100.1.1';

export interface PushCertificate {
  certPem: string;
  keyPem: string;
  topic: string;
  subject: string;
  notAfter: string;
  serialNumber: string;
}

/** What the admin API shows: everything but the key. */
export type PushCertificateInfo = Omit<PushCertificate, 'keyPem' | 'certPem'>;

export class PushCertificateError extends Error {}

export function publicInfo(p: PushCertificate): PushCertificateInfo {
  return { topic: p.topic, subject: p.subject, notAfter: p.notAfter, serialNumber: p.serialNumber };
}

export function fromPem(certificatePem: string, privateKeyPem: string, now = new Date()): PushCertificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certificatePem);
  } catch {
    throw new PushCertificateError('certificate: not a PEM certificate');
  }
  let keyPem: string;
  try {
    keyPem = createPrivateKey(privateKeyPem).export({ type: 'pkcs8', format: 'pem' }).toString();
  } catch {
    // Never echo the key material back.
    throw new PushCertificateError('privateKey: not a readable unencrypted PEM private key');
  }
  const certSpki = cert.publicKey.export({ type: 'spki', format: 'der' });
  const keySpki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  if (!certSpki.equals(keySpki)) throw new PushCertificateError('the private key does not belong to the certificate');
  if (new Date(cert.validTo) < now) throw new PushCertificateError(`the push certificate expired on ${new Date(cert.validTo).toISOString()}`);
  const topic = new x509.X509Certificate(cert.raw).subjectName.getField(UID_OID)[0];
  if (!topic) throw new PushCertificateError('the certificate subject has no UID (the push topic): is this an MDM push certificate?');
  if (!topic.startsWith('com.apple.mgmt.')) throw new PushCertificateError(`topic ${topic} does not start with com.apple.mgmt.: not an MDM push certificate`);
  return {
    certPem: cert.toString(),
    keyPem,
    topic,
    subject: cert.subject.replace(/\n/g, ', '),
    notAfter: new Date(cert.validTo).toISOString(),
    serialNumber: cert.serialNumber.toLowerCase(),
  };
}

/** PKCS#12 (base64) with its password: node:crypto cannot read PKCS#12, so node-forge does this one parse. */
export function fromPkcs12(base64: string, password: string, now = new Date()): PushCertificate {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    const asn1 = forge.asn1.fromDer(forge.util.decode64(base64.replace(/\s+/g, '')));
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, password);
  } catch {
    throw new PushCertificateError('pkcs12: not a PKCS#12 file, or the password is wrong');
  }
  const certs = (p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag!] ?? []).flatMap((b) => (b.cert ? [b.cert] : []));
  const keys = [
    ...(p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[forge.pki.oids.pkcs8ShroudedKeyBag!] ?? []),
    ...(p12.getBags({ bagType: forge.pki.oids.keyBag })[forge.pki.oids.keyBag!] ?? []),
  ].flatMap((b) => (b.key ? [b.key] : []));
  if (keys.length !== 1) throw new PushCertificateError(`pkcs12: expected one private key, found ${keys.length}`);
  const keyPem = forge.pki.privateKeyToPem(keys[0]!);
  // The leaf is the certificate whose public key matches the private key (the file may carry the chain).
  const keySpki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const leaf = certs.map((c) => forge.pki.certificateToPem(c)).find((pem) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }).equals(keySpki));
  if (!leaf) throw new PushCertificateError('pkcs12: no certificate matches the private key');
  return fromPem(leaf, keyPem, now);
}
