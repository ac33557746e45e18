import { ACTIONS, NS, envelope, serialize } from './soap.js';
import { type El, path, textAt } from './xml.js';

// MS-MDE2 Discovery (on-premise-authentication-device-enrollment.md,
// "Discovery service"): GET is the reachability probe (200, empty body); POST
// carries a Discover request and is answered with the auth policy and the two
// service URLs. Only OnPremise is offered: the user types their UPN and the
// one-time enrollment token as the password.

export interface DiscoverRequest {
  messageId: string | undefined;
  emailAddress: string | undefined;
  authPolicies: string[];
  requestVersion: string | undefined;
}

export function parseDiscover(root: El): DiscoverRequest | null {
  const req = path(root, 'Body', 'Discover', 'request');
  if (root.name !== 'Envelope' || !req) return null;
  return {
    messageId: textAt(root, 'Header', 'MessageID'),
    emailAddress: textAt(req, 'EmailAddress'),
    authPolicies: (path(req, 'AuthPolicies')?.children ?? []).filter((c) => c.name === 'AuthPolicy').map((c) => c.text),
    requestVersion: textAt(req, 'RequestVersion'),
  };
}

export interface DiscoverUrls {
  enrollmentPolicyServiceUrl: string;
  enrollmentServiceUrl: string;
}

/** DiscoverResponse exactly as the sample: AuthPolicy, EnrollmentVersion, the policy and enrollment service URLs. */
export function discoverResponse(urls: DiscoverUrls, relatesTo: string | undefined): string {
  const { doc, body } = envelope(ACTIONS.discoverResponse, relatesTo);
  body.att('http://www.w3.org/2000/xmlns/', 'xmlns:xsi', NS.xsi).att('http://www.w3.org/2000/xmlns/', 'xmlns:xsd', NS.xsd);
  const result = body.ele(NS.enrollment, 'DiscoverResponse').ele(NS.enrollment, 'DiscoverResult');
  result.ele(NS.enrollment, 'AuthPolicy').txt('OnPremise');
  result.ele(NS.enrollment, 'EnrollmentVersion').txt('3.0');
  result.ele(NS.enrollment, 'EnrollmentPolicyServiceUrl').txt(urls.enrollmentPolicyServiceUrl);
  result.ele(NS.enrollment, 'EnrollmentServiceUrl').txt(urls.enrollmentServiceUrl);
  return serialize(doc);
}
