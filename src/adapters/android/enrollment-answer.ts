import type { IdentityChallenge } from '../../core/adapter.js';
import { sha256Hex } from './canonical.js';

// The answer to a successful POST /android/v1/enroll: who the device is now,
// how to enroll its identity certificate over SCEP (the certificate that
// authenticates every later call), and where to go next. Pure.

export const IDENTITY_ALIAS = 'mdmgw-device-identity';

export interface EnrollmentAnswer {
  deviceId: string;
  schemaVersion: number;
  identity: {
    scepUrl: string;
    challenge: string;
    challengeExpiresAt: string;
    subject: string;
    keyAlgorithm: 'RSA';
    keySize: number;
    hashAlgorithm: 'SHA-256';
    /** SHA-256 of the CA certificate DER, hex: checks the GetCACert answer. */
    caFingerprint: string;
    /** The CA certificate, DER base64: install as trusted and pin for the gateway's TLS client auth. */
    caCertificate: string;
    /** Where the agent keeps the identity key pair (its own Keystore alias, not a KeyChain one). */
    alias: string;
  };
  endpoints: { policy: string; status: string; schema: string };
}

export function enrollmentAnswer(args: { deviceId: string; schemaVersion: number; identity: IdentityChallenge; caCertificate: Uint8Array; publicUrl: string }): EnrollmentAnswer {
  const base = `${args.publicUrl.replace(/\/+$/, '')}/android/v1`;
  return {
    deviceId: args.deviceId,
    schemaVersion: args.schemaVersion,
    identity: {
      scepUrl: args.identity.scepUrl,
      challenge: args.identity.challenge,
      challengeExpiresAt: args.identity.expiresAt.toISOString(),
      subject: args.identity.subject,
      keyAlgorithm: 'RSA',
      keySize: args.identity.keySize,
      hashAlgorithm: 'SHA-256',
      caFingerprint: sha256Hex(args.caCertificate),
      caCertificate: Buffer.from(args.caCertificate).toString('base64'),
      alias: IDENTITY_ALIAS,
    },
    endpoints: { policy: `${base}/policy`, status: `${base}/status`, schema: `${base}/schema.json` },
  };
}
