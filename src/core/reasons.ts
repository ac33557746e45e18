// Stable reason codes for every refusal, with the SCEP failInfo each maps to.
// Modelled on Intune's published SCEP validation error list: an admin greps
// the audit log for the code, a device sees it in the CertRep failInfoText.
// Codes never change meaning once released; add new ones instead.
// The failInfo names are the codec's FailInfo (scep/codec/fail-info.ts); core
// does not import the codec, so scep/fail-info-for.ts checks them by type.

export const REASONS = {
  // message level (SCEP codec)
  MESSAGE_MALFORMED: { failInfo: 'badRequest', text: 'the pkiMessage could not be parsed' },
  MESSAGE_SIGNATURE_INVALID: { failInfo: 'badMessageCheck', text: 'the pkiMessage signature does not verify' },
  UNSUPPORTED_ALGORITHM: { failInfo: 'badAlg', text: 'a digest, signature or content-encryption algorithm is not supported' },
  DECRYPTION_FAILED: { failInfo: 'badMessageCheck', text: 'the enveloped content could not be decrypted with the RA key' },
  UNSUPPORTED_MESSAGE_TYPE: { failInfo: 'badRequest', text: 'the SCEP messageType is not supported' },
  TRANSACTION_CSR_MISMATCH: { failInfo: 'badRequest', text: 'this transactionID was already used with a different CSR' },
  TRANSACTION_UNKNOWN: { failInfo: 'badCertId', text: 'no enrollment with this transactionID' },
  CERTIFICATE_UNKNOWN: { failInfo: 'badCertId', text: 'no certificate with this issuer and serial number' },
  ENROLLMENT_REJECTED: { failInfo: 'badRequest', text: 'an administrator rejected this enrollment' },
  // challenge
  CHALLENGE_MISSING: { failInfo: 'badRequest', text: 'the CSR carries no challengePassword' },
  CHALLENGE_MALFORMED: { failInfo: 'badRequest', text: 'the challengePassword is not a gateway challenge' },
  CHALLENGE_BAD_SIGNATURE: { failInfo: 'badRequest', text: 'the challenge signature does not verify' },
  CHALLENGE_EXPIRED: { failInfo: 'badTime', text: 'the challenge has expired' },
  CHALLENGE_ALREADY_USED: { failInfo: 'badRequest', text: 'the challenge was already used' },
  // target and assignment
  PROFILE_UNKNOWN: { failInfo: 'badRequest', text: 'the challenge names a profile or version that does not exist' },
  TARGET_UNKNOWN: { failInfo: 'badRequest', text: 'the challenge target device or user does not exist' },
  PROFILE_NOT_ASSIGNED: { failInfo: 'badRequest', text: 'the profile is no longer assigned to the target' },
  REQUEST_CHANGED: { failInfo: 'badRequest', text: 'the resolved request changed since the challenge was minted' },
  TARGET_PRIMARY_USER_CHANGED: { failInfo: 'badRequest', text: "the device's primary user is no longer the user the certificate is for" },
  ATTRIBUTE_MISSING: { failInfo: 'badRequest', text: 'a template variable of the profile has no value for the target' },
  DEVICE_BLOCKED: { failInfo: 'badRequest', text: 'an administrator has blocked the device: it gets no certificate until unblocked' },
  USER_DISABLED: { failInfo: 'badRequest', text: 'an administrator has disabled the user the certificate is for' },
  // CSR content
  CSR_SIGNATURE_INVALID: { failInfo: 'badMessageCheck', text: 'the CSR self-signature does not verify' },
  SUBJECT_MISSING: { failInfo: 'badRequest', text: 'the CSR has no subject' },
  SUBJECT_MISMATCH: { failInfo: 'badRequest', text: 'the CSR subject differs from the profile subject' },
  SAN_MISSING: { failInfo: 'badRequest', text: 'the CSR lacks subject alternative names the profile requires' },
  SAN_MISMATCH: { failInfo: 'badRequest', text: 'the CSR subject alternative names differ from the profile' },
  KEY_USAGE_EXCEEDS_PROFILE: { failInfo: 'badRequest', text: 'the CSR asks for key usages the profile does not allow' },
  EKU_EXCEEDS_PROFILE: { failInfo: 'badRequest', text: 'the CSR asks for extended key usages the profile does not allow' },
  KEY_TOO_SHORT: { failInfo: 'badRequest', text: 'the CSR key is shorter than the profile minimum' },
  KEY_ALGORITHM_UNSUPPORTED: { failInfo: 'badAlg', text: 'the CSR key algorithm is not supported' },
  // renewal
  RENEWAL_SIGNER_UNKNOWN: { failInfo: 'badCertId', text: 'the RenewalReq is not signed by a certificate this gateway issued' },
  RENEWAL_SIGNER_EXPIRED: { failInfo: 'badTime', text: 'the certificate authenticating the renewal has expired' },
  RENEWAL_SIGNER_REVOKED: { failInfo: 'badCertId', text: 'the certificate authenticating the renewal is revoked' },
  RENEWAL_SUBJECT_MISMATCH: { failInfo: 'badRequest', text: 'the renewal CSR subject differs from the certificate being renewed' },
  RENEWAL_NOT_DUE: { failInfo: 'badTime', text: 'the device identity certificate being renewed is not yet inside its renewal period' },
  // external validators and internal faults
  POLICY_DENIED: { failInfo: 'badRequest', text: 'a policy validator refused the request' },
  INTERNAL_ERROR: { failInfo: 'badRequest', text: 'the gateway could not complete the request; see the audit log' },
  // upstream CA mode (docs/upstream-ca.md): the request passed here, the CA that issues said no or could not be asked
  UPSTREAM_REFUSED: { failInfo: 'badRequest', text: 'the upstream CA refused the request; the audit log has its answer' },
  UPSTREAM_UNAVAILABLE: { failInfo: 'badRequest', text: 'the upstream CA could not be reached or gave an unusable answer' },
} as const satisfies Record<string, { failInfo: string; text: string }>;

export type ReasonCode = keyof typeof REASONS;

/** A refusal as it travels from a check to the CertRep and the audit log. */
export interface Refusal {
  code: ReasonCode;
  /** Human detail, safe to log (never a challenge or key). */
  detail?: string;
  expected?: unknown;
  received?: unknown;
}
