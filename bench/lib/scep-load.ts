import 'reflect-metadata';
// SCEP enrollment load against any SCEP server (this gateway, micromdm's
// scepserver, or --target): PKCSReq messages with RSA-2048 device keys, built
// before the clock starts (the device's work is not the server's), sent by
// POST at a given concurrency, every CertRep decoded afterwards.
import { X509Certificate, randomBytes } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { readCertRep, readCertsOnly, writePkiRequest } from '../../src/scep/codec/index.js';
import { softwareKey } from '../../src/x509/software-key.js';
import { buildCsr, generateDeviceKey, sendPkiMessage, type DeviceKey } from '../../src/sim/scep-client.js';
import type { KeyedCertificate } from '../../src/x509/keys.js';
import { runLoad, type LoadResult } from './load.js';

export interface Prebuilt {
  der: Uint8Array;
  signer: KeyedCertificate;
}

/** The certificate a client encrypts to: the RA (gateway) or the CA itself when GetCACert answers one certificate (scepserver). */
export async function recipientOf(scepUrl: string): Promise<Uint8Array> {
  const res = await fetch(`${scepUrl}?operation=GetCACert`);
  if (!res.ok) throw new Error(`GetCACert at ${scepUrl}: HTTP ${res.status}`);
  const body = new Uint8Array(await res.arrayBuffer());
  if ((res.headers.get('content-type') ?? '').includes('x509-ca-cert')) return body;
  const all = readCertsOnly(body);
  const ra = all.find((c) => !new X509Certificate(c).ca) ?? all[0];
  if (!ra) throw new Error('GetCACert: no certificate');
  return ra;
}

/** A pool of RSA-2048 device keys, each with the self-signed certificate a client signs its first request with. */
export async function deviceKeys(count: number): Promise<{ key: DeviceKey; signer: KeyedCertificate }[]> {
  const out: { key: DeviceKey; signer: KeyedCertificate }[] = [];
  for (let i = 0; i < count; i++) {
    const key = await generateDeviceKey('RSA', 2048);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: (i + 1).toString(16).padStart(2, '0'),
      name: `CN=bench-${i}, O=Bench`,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      keys: key.keys,
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    });
    out.push({ key, signer: { certificate: new Uint8Array(cert.rawData), key: softwareKey(key.keyObject) } });
  }
  return out;
}

export async function prebuild(o: { n: number; recipient: Uint8Array; keys: { key: DeviceKey; signer: KeyedCertificate }[]; subject: string; challenge: (i: number) => Promise<string> }): Promise<Prebuilt[]> {
  const out: Prebuilt[] = [];
  for (let i = 0; i < o.n; i++) {
    const k = o.keys[i % o.keys.length]!;
    const csr = await buildCsr(k.key, { subject: o.subject, challenge: await o.challenge(i) });
    const der = await writePkiRequest({ messageType: 'PKCSReq', transactionId: randomBytes(16).toString('hex'), csr, signer: k.signer, recipient: o.recipient, cipher: 'aes-256-cbc', digest: 'sha256' });
    out.push({ der, signer: k.signer });
  }
  return out;
}

export interface EnrollmentLoadResult extends LoadResult {
  issued: number;
  failed: number;
}

/** Sends every prebuilt request; an answer that is not a SUCCESS CertRep with a certificate counts as failed. */
export async function enrollmentLoad(scepUrl: string, recipient: Uint8Array, requests: Prebuilt[], concurrency: number, cpuMs: () => number): Promise<EnrollmentLoadResult> {
  const answers: (Uint8Array | undefined)[] = new Array(requests.length);
  const load = await runLoad({ n: requests.length, concurrency, cpuMs, op: async (i) => void (answers[i] = await sendPkiMessage(scepUrl, requests[i]!.der)) });
  let issued = 0;
  for (let i = 0; i < requests.length; i++) {
    try {
      const rep = await readCertRep(answers[i]!, requests[i]!.signer, recipient);
      if (rep.status === 'SUCCESS' && rep.certificates.length > 0) issued++;
    } catch {
      // counted below
    }
  }
  return { ...load, issued, failed: requests.length - issued };
}
