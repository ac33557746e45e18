import { randomUUID } from 'node:crypto';
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';

// SOAP 1.2 envelopes and faults for the MS-MDE2 enrollment services.
// Namespaces and fault codes follow the Microsoft pages copied in
// ../shared/reference/windows/microsoft-docs/ (on-premise-authentication-device-enrollment.md
// for the envelopes, mobile-device-enrollment.md "Enrollment error messages"
// for the fault subcodes and the MENROLL_E_* HRESULTs the client shows).

export const NS = {
  s: 'http://www.w3.org/2003/05/soap-envelope',
  a: 'http://www.w3.org/2005/08/addressing',
  u: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wst: 'http://docs.oasis-open.org/ws-sx/ws-trust/200512',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xsd: 'http://www.w3.org/2001/XMLSchema',
  enrollment: 'http://schemas.microsoft.com/windows/management/2012/01/enrollment',
  policy: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy',
  pkiEnrollment: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment',
  diagnostics: 'http://schemas.microsoft.com/2004/09/servicemodel/diagnostics',
} as const;

export const ACTIONS = {
  discover: 'http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/Discover',
  discoverResponse: 'http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/DiscoverResponse',
  getPolicies: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies',
  getPoliciesResponse: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPoliciesResponse',
  rst: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep',
  rstrc: 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep',
} as const;

export const SOAP_CONTENT_TYPE = 'application/soap+xml; charset=utf-8';

/** Starts `<s:Envelope>` with Header (Action, optional RelatesTo, ActivityId) and returns the Body to fill. */
export function envelope(action: string, relatesTo: string | undefined, extraNs: Record<string, string> = {}): { doc: XMLBuilder; header: XMLBuilder; body: XMLBuilder } {
  const doc = create({ version: '1.0', encoding: 'utf-8' });
  const env = doc.ele(NS.s, 's:Envelope').att('http://www.w3.org/2000/xmlns/', 'xmlns:a', NS.a);
  for (const [p, uri] of Object.entries(extraNs)) env.att('http://www.w3.org/2000/xmlns/', `xmlns:${p}`, uri);
  const header = env.ele(NS.s, 's:Header');
  header.ele(NS.a, 'a:Action').att(NS.s, 's:mustUnderstand', '1').txt(action);
  const activity = randomUUID();
  header.ele(NS.diagnostics, 'ActivityId').att('CorrelationId', activity).txt(activity);
  if (relatesTo) header.ele(NS.a, 'a:RelatesTo').txt(relatesTo);
  const body = env.ele(NS.s, 's:Body');
  return { doc, header, body };
}

export function serialize(doc: XMLBuilder): string {
  return doc.end({ headless: false });
}

/**
 * The MS-MDE2 enrollment faults (mobile-device-enrollment.md, "Enrollment error
 * messages"): the subcode the client maps to a MENROLL_E_* HRESULT.
 */
export const ENROLLMENT_FAULTS = {
  MessageFormat: { ns: 's', hresult: '0x80180001', error: 'MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR' },
  Authentication: { ns: 's', hresult: '0x80180002', error: 'MENROLL_E_DEVICE_AUTHENTICATION_ERROR' },
  Authorization: { ns: 's', hresult: '0x80180003', error: 'MENROLL_E_DEVICE_AUTHORIZATION_ERROR' },
  CertificateRequest: { ns: 's', hresult: '0x80180004', error: 'MENROLL_E_DEVICE_CERTIFICATEREQUEST_ERROR' },
  EnrollmentServer: { ns: 's', hresult: '0x80180005', error: 'MENROLL_E_DEVICE_CONFIGMGRSERVER_ERROR' },
  InternalServiceFault: { ns: 'a', hresult: '0x80180006', error: 'MENROLL_E_DEVICE_INTERNALSERVICE_ERROR' },
  InvalidSecurity: { ns: 'a', hresult: '0x80180007', error: 'MENROLL_E_DEVICE_INVALIDSECURITY_ERROR' },
} as const;
export type EnrollmentFaultCode = keyof typeof ENROLLMENT_FAULTS;

export interface SoapFault {
  code: EnrollmentFaultCode;
  reason: string;
}

/** A SOAP 1.2 fault in the shape of the sample in mobile-device-enrollment.md. */
export function faultEnvelope(action: string, relatesTo: string | undefined, f: SoapFault): string {
  const { doc, body } = envelope(action, relatesTo);
  const fault = body.ele(NS.s, 's:Fault');
  const code = fault.ele(NS.s, 's:Code');
  code.ele(NS.s, 's:Value').txt(f.code === 'MessageFormat' ? 's:Sender' : 's:Receiver');
  code.ele(NS.s, 's:Subcode').ele(NS.s, 's:Value').txt(`${ENROLLMENT_FAULTS[f.code].ns}:${f.code}`);
  fault.ele(NS.s, 's:Reason').ele(NS.s, 's:Text').att('http://www.w3.org/XML/1998/namespace', 'xml:lang', 'en-US').txt(f.reason);
  return serialize(doc);
}
