// The cryptographic floor of one SCEP enrollment, measured with node:crypto
// in the same run as the load: the RA's RSA decrypt of the content key, the
// CA's signature on the certificate and the RA's signature on the CertRep.
// Nothing an implementation can skip; the gateway's ratio to it is the figure
// issue 13 targets (at most 2x).
import { constants, createPrivateKey, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';

function cpuMsPer(n: number, op: () => void): number {
  for (let i = 0; i < 20; i++) op();
  const c = process.cpuUsage();
  for (let i = 0; i < n; i++) op();
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1000 / n;
}

export interface Floor {
  caKey: string;
  raDecryptMs: number;
  caSignMs: number;
  raSignMs: number;
  totalMs: number;
}

/** `caCertificatePem`: the CA under test, so the floor uses its key type and size. */
export function measureFloor(caCertificatePem: string, n = 200): Floor {
  const details = new X509Certificate(caCertificatePem).publicKey;
  const caKey: KeyObject =
    details.asymmetricKeyType === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: details.asymmetricKeyDetails?.namedCurve ?? 'prime256v1' }).privateKey
      : generateKeyPairSync('rsa', { modulusLength: details.asymmetricKeyDetails?.modulusLength ?? 3072 }).privateKey;
  const ra = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const wrapped = publicEncrypt({ key: ra.publicKey, padding: constants.RSA_PKCS1_PADDING }, randomBytes(32));
  const tbs = randomBytes(900); // about a certificate's TBS
  const ras = createPrivateKey(ra.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const raDecryptMs = cpuMsPer(n, () => privateDecrypt({ key: ras, padding: constants.RSA_NO_PADDING }, wrapped));
  const caSignMs = cpuMsPer(n, () => sign('sha256', tbs, caKey));
  const raSignMs = cpuMsPer(n, () => sign('sha256', tbs.subarray(0, 300), ras));
  const r = (v: number) => Number(v.toFixed(3));
  const name = details.asymmetricKeyType === 'ec' ? `EC ${details.asymmetricKeyDetails?.namedCurve}` : `RSA-${details.asymmetricKeyDetails?.modulusLength}`;
  return { caKey: name, raDecryptMs: r(raDecryptMs), caSignMs: r(caSignMs), raSignMs: r(raSignMs), totalMs: r(raDecryptMs + caSignMs + raSignMs) };
}

export interface DeliveringFloor {
  /** One Ed25519 signature: a profile challenge (core/challenge/token.ts). */
  ed25519SignMs: number;
  /** One RSA-2048 PKCS#1 v1.5 signature: the CMS signature of an Apple profile (the profile signer is RSA-2048). */
  rsa2048SignMs: number;
  /** One RSA-2048 verification: an Apple message's Mdm-Signature (the simulator's identity key is RSA-2048). */
  rsa2048VerifyMs: number;
  /** Android first fetch: 3 challenges. */
  androidFetchMs: number;
  /** Apple TokenUpdate: its Mdm-Signature. */
  appleTokenUpdateMs: number;
  /** Apple 4 connects: 4 Mdm-Signatures, 3 profile CMS signatures, 3 challenges. */
  appleConnectsMs: number;
  /** Windows first session (OMA-DM messages only): 3 challenges (the identity is the proxy header: no signature checked per message). */
  windowsSessionMs: number;
}

/** The signatures a delivering check-in cannot skip (issue 13: "3 ms plus the signatures it needs"), with node:crypto in the same run. */
export function measureDeliveringFloor(n = 300): DeliveringFloor {
  const ed = generateKeyPairSync('ed25519');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const claims = randomBytes(200); // about a challenge's signed claims
  const digestInfo = randomBytes(120); // a CMS signer's signed attributes
  const sig = sign('sha256', digestInfo, rsa.privateKey);
  const ed25519SignMs = cpuMsPer(n, () => sign(null, claims, ed.privateKey));
  const rsa2048SignMs = cpuMsPer(n, () => sign('sha256', digestInfo, rsa.privateKey));
  const rsa2048VerifyMs = cpuMsPer(n, () => verify('sha256', digestInfo, rsa.publicKey, sig));
  const r = (v: number) => Number(v.toFixed(3));
  return {
    ed25519SignMs: r(ed25519SignMs),
    rsa2048SignMs: r(rsa2048SignMs),
    rsa2048VerifyMs: r(rsa2048VerifyMs),
    androidFetchMs: r(3 * ed25519SignMs),
    appleTokenUpdateMs: r(rsa2048VerifyMs),
    appleConnectsMs: r(4 * rsa2048VerifyMs + 3 * rsa2048SignMs + 3 * ed25519SignMs),
    windowsSessionMs: r(3 * ed25519SignMs),
  };
}
