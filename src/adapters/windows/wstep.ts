import { ACTIONS, NS, envelope, serialize } from './soap.js';
import { type UsernameToken, usernameToken } from './enrollment-policy.js';
import { type El, childrenNamed, path, textAt } from './xml.js';

// MS-WSTEP RequestSecurityToken / RequestSecurityTokenResponseCollection
// (on-premise-authentication-device-enrollment.md, "Enrollment web service").
// The RST carries the UsernameToken (UPN + one-time enrollment token), a
// base64 PKCS#10 in wsse:BinarySecurityToken and AdditionalContext items
// (DeviceName, OSVersion, DeviceID, EnrollmentType, ...). The RSTR carries the
// base64 wap-provisioningdoc in a BinarySecurityToken of ValueType
// DeviceEnrollmentProvisionDoc.

export const TOKEN_TYPE = 'http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken';
export const PKCS10_VALUE_TYPE = 'http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10';
/** The automatic renewal's BinarySecurityToken (certificate-renewal-windows-mdm.md): a PKCS#7 around the PKCS#10, signed with the current certificate. */
export const PKCS7_VALUE_TYPE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#PKCS7';
export const PROVISION_DOC_VALUE_TYPE = 'http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentProvisionDoc';
export const BASE64_ENCODING_TYPE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary';
export const ISSUE_REQUEST_TYPE = 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue';
export const RENEW_REQUEST_TYPE = 'http://docs.oasis-open.org/ws-sx/ws-trust/200512/Renew';

export interface RequestSecurityToken {
  messageId: string | undefined;
  credentials: UsernameToken | null;
  requestType: string | undefined;
  /** The BinarySecurityToken's bytes: a PKCS#10 (enrollment), or a PKCS#7 around one (renewal). */
  csrDer: Uint8Array;
  tokenType: 'PKCS10' | 'PKCS7';
  /** AdditionalContext items; a name may repeat (MAC, IMEI). */
  context: Record<string, string[]>;
}

export type RstParse = { ok: true; rst: RequestSecurityToken } | { ok: false; reason: string };

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export function parseRequestSecurityToken(root: El): RstParse {
  const rst = path(root, 'Body', 'RequestSecurityToken');
  if (root.name !== 'Envelope' || !rst) return { ok: false, reason: 'not a RequestSecurityToken envelope' };
  const bst = path(rst, 'BinarySecurityToken');
  if (!bst) return { ok: false, reason: 'no BinarySecurityToken' };
  const valueType = bst.attrs.ValueType?.trim();
  if (valueType && valueType !== PKCS10_VALUE_TYPE && valueType !== PKCS7_VALUE_TYPE) {
    return { ok: false, reason: `BinarySecurityToken ValueType ${valueType} is neither PKCS#10 nor PKCS#7` };
  }
  const b64 = bst.text.replace(/\s+/g, '');
  if (!b64 || !BASE64.test(b64)) return { ok: false, reason: 'BinarySecurityToken is not base64' };
  const context: Record<string, string[]> = {};
  for (const item of childrenNamed(path(rst, 'AdditionalContext'), 'ContextItem')) {
    const name = item.attrs.Name;
    const value = textAt(item, 'Value');
    if (!name || value === undefined) continue;
    (context[name] ??= []).push(value.trim());
  }
  return {
    ok: true,
    rst: {
      messageId: textAt(root, 'Header', 'MessageID'),
      credentials: usernameToken(root),
      requestType: textAt(rst, 'RequestType')?.trim(),
      csrDer: new Uint8Array(Buffer.from(b64, 'base64')),
      tokenType: valueType === PKCS7_VALUE_TYPE ? 'PKCS7' : 'PKCS10',
      context,
    },
  };
}

/** The first value of an AdditionalContext item, or undefined. */
export function contextValue(rst: RequestSecurityToken, name: string): string | undefined {
  return rst.context[name]?.[0];
}

/** RequestSecurityTokenResponseCollection carrying the provisioning document (base64). */
export function requestSecurityTokenResponse(provisioningDoc: string, relatesTo: string | undefined, now: Date): string {
  const { doc, header, body } = envelope(ACTIONS.rstrc, relatesTo, { u: NS.u });
  const security = header.ele(NS.wsse, 'o:Security').att(NS.s, 's:mustUnderstand', '1');
  const ts = security.ele(NS.u, 'u:Timestamp').att(NS.u, 'u:Id', '_0');
  ts.ele(NS.u, 'u:Created').txt(now.toISOString());
  ts.ele(NS.u, 'u:Expires').txt(new Date(now.getTime() + 5 * 60_000).toISOString());
  const rstr = body.ele(NS.wst, 'RequestSecurityTokenResponseCollection').ele(NS.wst, 'RequestSecurityTokenResponse');
  rstr.ele(NS.wst, 'TokenType').txt(TOKEN_TYPE);
  rstr.ele(NS.pkiEnrollment, 'DispositionMessage');
  rstr
    .ele(NS.wst, 'RequestedSecurityToken')
    .ele(NS.wsse, 'BinarySecurityToken')
    .att('ValueType', PROVISION_DOC_VALUE_TYPE)
    .att('EncodingType', BASE64_ENCODING_TYPE)
    .txt(Buffer.from(provisioningDoc, 'utf8').toString('base64'));
  rstr.ele(NS.pkiEnrollment, 'RequestID').txt('0');
  return serialize(doc);
}
