// The error codes an agent reports with a failed policy result
// (POST /android/v1/status). docs/android.md explains each; a test checks the
// two lists agree. Codes are stable: add, never rename.

export const AGENT_ERROR_CODES = {
  POLICY_UNSUPPORTED: 'The policy uses a type, schema version or value this agent does not implement.',
  SCEP_URL_INSECURE: 'The SCEP URL is http:// and the agent is not a lab build.',
  KEYSTORE_UNAVAILABLE: 'The Android Keystore refused to generate the key pair (KeyPairGenerator threw).',
  HARDWARE_KEYSTORE_UNAVAILABLE: 'requireHardwareBacked is true but the generated key is not in secure hardware (KeyInfo security level SOFTWARE).',
  STRONGBOX_UNAVAILABLE: 'requireStrongBox is true but the device has no StrongBox (StrongBoxUnavailableException).',
  KEY_SIZE_UNSUPPORTED: 'The Keystore cannot generate a key of the policy keySize.',
  CA_FINGERPRINT_MISMATCH: 'GetCACert returned a CA whose SHA-256 is not caFingerprint.',
  SCEP_NETWORK_ERROR: 'The SCEP server could not be reached (DNS, TLS, timeout, HTTP 5xx) after the policy retries.',
  SCEP_BAD_ALG: 'CertRep FAILURE, failInfo badAlg.',
  SCEP_BAD_MESSAGE_CHECK: 'CertRep FAILURE, failInfo badMessageCheck.',
  SCEP_BAD_REQUEST: 'CertRep FAILURE, failInfo badRequest (the CRP refused the CSR: challenge spent, expired or request changed).',
  SCEP_BAD_TIME: 'CertRep FAILURE, failInfo badTime.',
  SCEP_BAD_CERT_ID: 'CertRep FAILURE, failInfo badCertId.',
  SCEP_PENDING_TIMEOUT: 'CertRep PENDING for longer than retries x retryDelaySeconds.',
  CHALLENGE_EXPIRED: 'challengeExpiresAt passed before the agent could enroll; it asks for a fresh policy.',
  CERT_INSTALL_DELEGATION_MISSING: 'The agent lacks the CERT_INSTALL delegated scope (or device/profile owner rights) to install key pairs.',
  CERT_INSTALL_FAILED: 'DevicePolicyManager.installKeyPair (or the Keystore certificate store) returned false or threw.',
  TRUSTED_ROOT_INSTALL_FAILED: 'DevicePolicyManager.installCaCert returned false for a trusted root.',
  INTERNAL_ERROR: 'Anything else; the detail says what.',
} as const;

export type AgentErrorCode = keyof typeof AGENT_ERROR_CODES;
export const AGENT_ERROR_CODE_LIST = Object.keys(AGENT_ERROR_CODES) as [AgentErrorCode, ...AgentErrorCode[]];
