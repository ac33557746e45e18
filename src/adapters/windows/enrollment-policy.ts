import { ACTIONS, NS, envelope, serialize } from './soap.js';
import { type El, path, textAt } from './xml.js';

// MS-XCEP GetPolicies (on-premise-authentication-device-enrollment.md,
// "Enrollment policy web service"). The request carries the same WS-Security
// UsernameToken as the enrollment request; the response describes the one
// policy the device must generate its identity key for: RSA of at least 2048
// bits, signed with SHA-256 (the OID table's sha256RSA entry).

export interface UsernameToken {
  username: string;
  password: string;
}

/** WS-Security UsernameToken from a SOAP header (`wsse:Security/wsse:UsernameToken`). */
export function usernameToken(root: El): UsernameToken | null {
  const t = path(root, 'Header', 'Security', 'UsernameToken');
  const username = textAt(t, 'Username');
  const password = textAt(t, 'Password');
  if (!username || !password) return null;
  return { username, password };
}

export interface GetPoliciesRequest {
  messageId: string | undefined;
  credentials: UsernameToken | null;
}

export function parseGetPolicies(root: El): GetPoliciesRequest | null {
  if (root.name !== 'Envelope' || !path(root, 'Body', 'GetPolicies')) return null;
  return { messageId: textAt(root, 'Header', 'MessageID'), credentials: usernameToken(root) };
}

export interface PolicyOptions {
  /** The identity certificate's minimum RSA key length. */
  minimalKeyLength: number;
  validityDays: number;
}

const nil = (parent: ReturnType<typeof envelope>['body'], name: string) => parent.ele(NS.policy, name).att(NS.xsi, 'xsi:nil', 'true');

/** GetPoliciesResponse with one policy, shaped like the Microsoft sample. */
export function getPoliciesResponse(o: PolicyOptions, relatesTo: string | undefined): string {
  const { doc, body } = envelope(ACTIONS.getPoliciesResponse, relatesTo);
  body.att('http://www.w3.org/2000/xmlns/', 'xmlns:xsi', NS.xsi).att('http://www.w3.org/2000/xmlns/', 'xmlns:xsd', NS.xsd);
  const gpr = body.ele(NS.policy, 'GetPoliciesResponse');
  const response = gpr.ele(NS.policy, 'response');
  response.ele(NS.policy, 'policyID');
  nil(response, 'policyFriendlyName');
  nil(response, 'nextUpdateHours');
  nil(response, 'policiesNotChanged');
  const policy = response.ele(NS.policy, 'policies').ele(NS.policy, 'policy');
  policy.ele(NS.policy, 'policyOIDReference').txt('0');
  nil(policy, 'cAs');
  const attrs = policy.ele(NS.policy, 'attributes');
  attrs.ele(NS.policy, 'commonName').txt('mdm-gateway device identity');
  attrs.ele(NS.policy, 'policySchema').txt('3');
  const validity = attrs.ele(NS.policy, 'certificateValidity');
  validity.ele(NS.policy, 'validityPeriodSeconds').txt(String(o.validityDays * 86_400));
  validity.ele(NS.policy, 'renewalPeriodSeconds').txt(String(Math.floor(o.validityDays * 86_400 * 0.2)));
  const perm = attrs.ele(NS.policy, 'permission');
  perm.ele(NS.policy, 'enroll').txt('true');
  perm.ele(NS.policy, 'autoEnroll').txt('false');
  const pk = attrs.ele(NS.policy, 'privateKeyAttributes');
  pk.ele(NS.policy, 'minimalKeyLength').txt(String(o.minimalKeyLength));
  for (const n of ['keySpec', 'keyUsageProperty', 'permissions', 'algorithmOIDReference', 'cryptoProviders']) nil(pk, n);
  const rev = attrs.ele(NS.policy, 'revision');
  rev.ele(NS.policy, 'majorRevision').txt('101');
  rev.ele(NS.policy, 'minorRevision').txt('0');
  for (const n of ['supersededPolicies', 'privateKeyFlags', 'subjectNameFlags', 'enrollmentFlags', 'generalFlags']) nil(attrs, n);
  attrs.ele(NS.policy, 'hashAlgorithmOIDReference').txt('0');
  for (const n of ['rARequirements', 'keyArchivalAttributes', 'extensions']) nil(attrs, n);
  nil(gpr, 'cAs');
  const oid = gpr.ele(NS.policy, 'oIDs').ele(NS.policy, 'oID');
  // hashAlgorithmOIDReference points here. The sample names SHA-1 (1.3.14.3.2.29,
  // group 1 = hash algorithms); the gateway's identity policy is SHA-256.
  oid.ele(NS.policy, 'value').txt('2.16.840.1.101.3.4.2.1');
  oid.ele(NS.policy, 'group').txt('1');
  oid.ele(NS.policy, 'oIDReferenceID').txt('0');
  oid.ele(NS.policy, 'defaultName').txt('szOID_NIST_sha256');
  return serialize(doc);
}
