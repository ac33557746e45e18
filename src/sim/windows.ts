import 'reflect-metadata';
import { X509Certificate, createPublicKey, randomUUID, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { toPem } from '../pem.js';
import { type DeviceKey, type SimSan, buildCsr, generateDeviceKey, getCaCerts, scepEnroll } from './scep-client.js';
import { type El, child, childrenNamed, parseXml, textAt } from '../adapters/windows/xml.js';
import { writeSignedData } from '../scep/codec/signed-data.js';
import { softwareKey } from '../x509/software-key.js';

// A Windows MDM client, played over real HTTP against a running gateway:
// MS-MDE2 discovery (GET probe + POST Discover), MS-XCEP GetPolicies, MS-WSTEP
// RequestSecurityToken with a real key and PKCS#10, the wap-provisioningdoc
// read back (root, identity certificate, w7 ADDR), then OMA-DM sessions with
// the identity certificate in the X-Client-Cert header. It keeps its own DM
// tree, answers every server command with Status (and Results for Get),
// handles Atomic as a unit, and after a session performs the SCEP enrollments
// that Exec Enroll started, with the node values it was given (ServerURL,
// Challenge, SubjectName, SubjectAlternativeNames, KeyUsage, EKUMapping,
// KeyLength, CAThumbprint), like the ClientCertificateInstall CSP does. The
// outcome lands in the SCEP node's Status / ErrorCode / CertThumbprint, which
// the server Gets in the next session.
//
// Identity renewal (certificate-renewal-windows-mdm.md): the provisioning
// document's CertificateStore/My/WSTEP/Renew settings are kept; once the
// identity is within RenewPeriod days of its expiry, maybeRenewIdentity()
// sends the automatic (ROBO) renewal RST: RequestType Renew, no user token,
// the current certificate as the client certificate, a PKCS#7 around a new
// PKCS#10 signed with the current key. The answer's certificate replaces the
// identity (and key) unless the test makes the install fail.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export interface SimOptions {
  baseUrl: string;
  upn: string;
  password: string;
  deviceName?: string;
  hardwareId?: string;
  osVersion?: string;
  enrollmentType?: 'Full' | 'Device';
  /** Extra HTTP headers on the enrollment request, e.g. an identity certificate (re-enrollment). */
  enrollmentHeaders?: Record<string, string>;
}

export interface EnrollResult {
  status: number;
  body: string;
  fault?: { subcode: string; reason: string };
}

export interface ServerMessage {
  raw: string;
  root: El;
  commands: El[];
  statuses: El[];
}

/** Pending SCEP enrollment started by Exec …/Install/Enroll. */
interface PendingEnroll {
  node: string; // …/SCEP/<UniqueID>
  legacy: boolean;
}

export interface SessionLog {
  messages: ServerMessage[];
  enrolled: { node: string; thumbprint?: string; status: number; errorCode?: string }[];
}

// CertEnroll key usage bits -> @peculiar/x509 flags.
const KU_MAP: [number, x509.KeyUsageFlags][] = [
  [0x80, x509.KeyUsageFlags.digitalSignature],
  [0x40, x509.KeyUsageFlags.nonRepudiation],
  [0x20, x509.KeyUsageFlags.keyEncipherment],
  [0x10, x509.KeyUsageFlags.dataEncipherment],
  [0x08, x509.KeyUsageFlags.keyAgreement],
  [0x04, x509.KeyUsageFlags.keyCertSign],
  [0x02, x509.KeyUsageFlags.cRLSign],
  [0x01, x509.KeyUsageFlags.encipherOnly],
  [0x8000, x509.KeyUsageFlags.decipherOnly],
];
const SAN_TYPES: Record<string, SimSan['type']> = { '2': 'email', '3': 'dns', '7': 'uri', '11': 'upn' };

/** Parses a CertNameToStr-style name (`CN=a,O="b, c"`) to peculiar's JSON name. */
export function parseWindowsName(s: string): x509.JsonName {
  const out: x509.JsonName = [];
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`bad name ${s}`);
    let key = s.slice(i, eq).trim();
    i = eq + 1;
    let value = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) throw new Error(`unterminated quote in ${s}`);
        if (s[i] === '"' && s[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (s[i] === '"') {
          i++;
          break;
        } else value += s[i++];
      }
      while (i < s.length && s[i] !== ',') i++;
    } else {
      const end = s.indexOf(',', i);
      value = s.slice(i, end < 0 ? s.length : end);
      i = end < 0 ? s.length : end;
    }
    i++; // skip ','
    if (key === 'S') key = 'ST';
    if (key.startsWith('OID.')) key = key.slice(4);
    out.push({ [key]: [value] });
  }
  return out;
}

/** RootCATrustedCertificates (Windows 10/11) or CertificateStore Root/System (8.1) EncodedCertificate nodes. */
const ROOT_NODE = /\/Root\/(?:System\/)?([0-9A-F]{40})\/EncodedCertificate$/;

export class WindowsSimulator {
  readonly hardwareId: string;
  key?: DeviceKey;
  identity?: Uint8Array;
  root?: Uint8Array;
  managementUrl?: string;
  provisioningDoc?: string;
  tree = new Map<string, string>();
  pending: PendingEnroll[] = [];
  /** CertificateStore/My/WSTEP/Renew from the provisioning document. */
  renewal?: { robo: boolean; renewPeriodDays: number; retryIntervalDays: number; serverUrl?: string };
  sessionCounter = 0;
  /** What happened, in order: `root:<thumbprint>` when a root is added to the trusted store, `cert:<issuing root thumbprint | untrusted>` when a certificate is enrolled. */
  events: string[] = [];
  /** Test hooks: make the next SCEP enrollment fail / tamper. */
  scepBehaviour: 'real' | 'unreachable' = 'real';
  loginStatus = 'user';

  constructor(readonly o: SimOptions) {
    this.hardwareId = o.hardwareId ?? randomUUID().toUpperCase();
  }

  /** Like Windows' own DESKTOP-XXXXXXX names: unique per simulated install unless the test names it. */
  get deviceName(): string {
    return this.o.deviceName ?? `DESKTOP-${this.hardwareId.replace(/-/g, '').slice(0, 7)}`;
  }

  certHeader(): Record<string, string> {
    if (!this.identity) throw new Error('not enrolled');
    return { 'X-Client-Cert': encodeURIComponent(toPem(this.identity)) };
  }

  async discover(): Promise<{ policyUrl: string; enrollmentUrl: string; authPolicy: string }> {
    const url = `${this.o.baseUrl}/EnrollmentServer/Discovery.svc`;
    const probe = await fetch(url);
    if (probe.status !== 200) throw new Error(`discovery probe: ${probe.status}`);
    const body = `<?xml version="1.0"?>
<s:Envelope xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:s="http://www.w3.org/2003/05/soap-envelope">
  <s:Header>
    <a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/Discover</a:Action>
    <a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>
    <a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>
    <a:To s:mustUnderstand="1">${esc(url)}</a:To>
  </s:Header>
  <s:Body>
    <Discover xmlns="http://schemas.microsoft.com/windows/management/2012/01/enrollment/">
      <request xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
        <EmailAddress>${esc(this.o.upn)}</EmailAddress>
        <OSEdition>4</OSEdition>
        <RequestVersion>3.0</RequestVersion>
        <DeviceType>CIMClient_Windows</DeviceType>
        <ApplicationVersion>${esc(this.o.osVersion ?? '10.0.19045.0')}</ApplicationVersion>
        <AuthPolicies><AuthPolicy>OnPremise</AuthPolicy></AuthPolicies>
      </request>
    </Discover>
  </s:Body>
</s:Envelope>`;
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`Discover: ${res.status} ${text}`);
    const result = child(child(child(parseXml(text), 'Body'), 'DiscoverResponse'), 'DiscoverResult');
    return {
      authPolicy: textAt(result, 'AuthPolicy') ?? '',
      policyUrl: textAt(result, 'EnrollmentPolicyServiceUrl') ?? '',
      enrollmentUrl: textAt(result, 'EnrollmentServiceUrl') ?? '',
    };
  }

  private security(): string {
    return `<wsse:Security s:mustUnderstand="1">
        <wsse:UsernameToken u:Id="uuid-${randomUUID()}-4">
          <wsse:Username>${esc(this.o.upn)}</wsse:Username>
          <wsse:Password wsse:Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">${esc(this.o.password)}</wsse:Password>
        </wsse:UsernameToken>
      </wsse:Security>`;
  }

  private static readonly ENVELOPE_NS =
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512" xmlns:ac="http://schemas.xmlsoap.org/ws/2006/12/authorization"';

  async getPolicies(policyUrl: string): Promise<{ status: number; minimalKeyLength?: number; body: string }> {
    const body = `<s:Envelope ${WindowsSimulator.ENVELOPE_NS}>
  <s:Header>
    <a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies</a:Action>
    <a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>
    <a:To s:mustUnderstand="1">${esc(policyUrl)}</a:To>
    ${this.security()}
  </s:Header>
  <s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
    <GetPolicies xmlns="http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy">
      <client><lastUpdate xsi:nil="true"/><preferredLanguage xsi:nil="true"/></client>
      <requestFilter xsi:nil="true"/>
    </GetPolicies>
  </s:Body>
</s:Envelope>`;
    const res = await fetch(policyUrl, { method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body });
    const text = await res.text();
    const root = parseXml(text);
    const min = textAt(root, 'Body', 'GetPoliciesResponse', 'response', 'policies', 'policy', 'attributes', 'privateKeyAttributes', 'minimalKeyLength');
    return { status: res.status, body: text, ...(min && { minimalKeyLength: Number(min) }) };
  }

  async requestSecurityToken(enrollmentUrl: string, csrOverride?: string): Promise<EnrollResult> {
    this.key ??= await generateDeviceKey('RSA', 2048);
    const csr = csrOverride ?? Buffer.from(await buildCsr(this.key, { subject: `CN=${this.hardwareId}` })).toString('base64');
    const ctx: [string, string][] = [
      ['OSEdition', '4'],
      ['OSVersion', this.o.osVersion ?? '10.0.19045.0'],
      ['DeviceName', this.deviceName],
      ['MAC', 'FF:FF:FF:FF:FF:FF'],
      ['EnrollmentType', this.o.enrollmentType ?? 'Full'],
      ['DeviceType', 'CIMClient_Windows'],
      ['ApplicationVersion', this.o.osVersion ?? '10.0.19045.0'],
      ['DeviceID', this.hardwareId],
      ['TargetedUserLoggedIn', 'True'],
    ];
    const body = `<s:Envelope ${WindowsSimulator.ENVELOPE_NS}>
  <s:Header>
    <a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep</a:Action>
    <a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>
    <a:To s:mustUnderstand="1">${esc(enrollmentUrl)}</a:To>
    ${this.security()}
  </s:Header>
  <s:Body>
    <wst:RequestSecurityToken>
      <wst:TokenType>http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken</wst:TokenType>
      <wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType>
      <wsse:BinarySecurityToken ValueType="http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10" EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary">${csr}</wsse:BinarySecurityToken>
      <ac:AdditionalContext xmlns="http://schemas.xmlsoap.org/ws/2006/12/authorization">
${ctx.map(([n, v]) => `        <ac:ContextItem Name="${n}"><ac:Value>${esc(v)}</ac:Value></ac:ContextItem>`).join('\n')}
      </ac:AdditionalContext>
    </wst:RequestSecurityToken>
  </s:Body>
</s:Envelope>`;
    const res = await fetch(enrollmentUrl, { method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8', ...this.o.enrollmentHeaders }, body });
    const text = await res.text();
    const root = parseXml(text);
    const fault = child(child(root, 'Body'), 'Fault');
    if (fault) {
      return { status: res.status, body: text, fault: { subcode: textAt(fault, 'Code', 'Subcode', 'Value') ?? '', reason: textAt(fault, 'Reason', 'Text') ?? '' } };
    }
    const bst = textAt(root, 'Body', 'RequestSecurityTokenResponseCollection', 'RequestSecurityTokenResponse', 'RequestedSecurityToken', 'BinarySecurityToken');
    if (!bst) throw new Error(`RSTR without BinarySecurityToken: ${text}`);
    this.provisioningDoc = Buffer.from(bst, 'base64').toString('utf8');
    this.readProvisioningDoc(parseXml(this.provisioningDoc));
    this.readRenewalSettings(parseXml(this.provisioningDoc));
    return { status: res.status, body: text };
  }

  private readProvisioningDoc(doc: El): void {
    const chars = (el: El | undefined, type: string) => childrenNamed(el, 'characteristic').filter((c) => c.attrs.type === type);
    const parm = (el: El | undefined, name: string) => childrenNamed(el, 'parm').find((p) => p.attrs.name === name)?.attrs.value;
    for (const store of chars(doc, 'CertificateStore')) {
      for (const root of chars(store, 'Root')) {
        for (const sys of chars(root, 'System')) for (const c of sys.children) this.root = Buffer.from(parm(c, 'EncodedCertificate') ?? '', 'base64');
      }
      for (const my of chars(store, 'My')) {
        for (const loc of [...chars(my, 'User'), ...chars(my, 'System')]) {
          for (const c of loc.children) {
            const enc = parm(c, 'EncodedCertificate');
            if (!enc) continue;
            const der = Buffer.from(enc, 'base64');
            if (new X509Certificate(der).fingerprint.replace(/:/g, '') !== c.attrs.type) throw new Error('identity characteristic is not named by its thumbprint');
            this.identity = der;
          }
        }
      }
    }
    const app = chars(doc, 'APPLICATION')[0];
    if (parm(app, 'APPID') !== 'w7') throw new Error('no w7 APPLICATION');
    this.managementUrl = parm(app, 'ADDR');
  }

  private readRenewalSettings(doc: El): void {
    const chars = (el: El | undefined, type: string) => childrenNamed(el, 'characteristic').filter((c) => c.attrs.type === type);
    const parm = (el: El | undefined, name: string) => childrenNamed(el, 'parm').find((p) => p.attrs.name === name)?.attrs.value;
    for (const store of chars(doc, 'CertificateStore')) {
      for (const my of chars(store, 'My')) {
        for (const renew of chars(chars(my, 'WSTEP')[0], 'Renew')) {
          this.renewal = {
            robo: parm(renew, 'ROBOSupport') === 'true',
            renewPeriodDays: Number(parm(renew, 'RenewPeriod')),
            retryIntervalDays: Number(parm(renew, 'RetryInterval')),
            ...(parm(renew, 'ServerURL') && { serverUrl: parm(renew, 'ServerURL') }),
          };
        }
      }
    }
  }

  /** Whether the identity is within RenewPeriod days of its expiry at `now` (the client's schedule). */
  renewalDue(now: Date): boolean {
    if (!this.identity || !this.renewal) return false;
    const notAfter = Date.parse(new X509Certificate(this.identity).validTo);
    return now.getTime() >= notAfter - this.renewal.renewPeriodDays * 86_400_000 && now.getTime() < notAfter;
  }

  /** The automatic renewal when it is due (ROBOSupport, inside RenewPeriod); null when not due. */
  async maybeRenewIdentity(now: Date, o: { installFails?: boolean } = {}): Promise<EnrollResult | null> {
    if (!this.renewal?.robo || !this.renewalDue(now)) return null;
    return this.renewIdentity(o);
  }

  /**
   * Sends the renewal RST now. `installFails`: the device gets the new
   * certificate but does not install it (keeps the old identity and key).
   * `csrSubject`, `signWith`, `clientCert`: test hooks for a tampered request.
   */
  async renewIdentity(o: { installFails?: boolean; csrSubject?: string; signWith?: { certificate: Uint8Array; key: DeviceKey }; clientCert?: Uint8Array | null } = {}): Promise<EnrollResult> {
    if (!this.identity || !this.key) throw new Error('not enrolled');
    const url = this.renewal?.serverUrl ?? `${this.o.baseUrl}/EnrollmentServer/Enrollment.svc`;
    const newKey = await generateDeviceKey('RSA', 2048);
    const csr = await buildCsr(newKey, { subject: o.csrSubject ?? `CN=${this.hardwareId}` });
    const signer = o.signWith ?? { certificate: this.identity, key: this.key };
    // Automatic renewal: the PKCS#7 content is the PKCS#10 itself, not base64 of it.
    const p7 = await writeSignedData({ eContent: csr, certificates: [signer.certificate], signer: { certificate: signer.certificate, key: softwareKey(signer.key.keyObject) }, digest: 'sha256', attributes: [] });
    const body = `<s:Envelope ${WindowsSimulator.ENVELOPE_NS}>
  <s:Header>
    <a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep</a:Action>
    <a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>
    <a:To s:mustUnderstand="1">${esc(url)}</a:To>
  </s:Header>
  <s:Body>
    <wst:RequestSecurityToken>
      <wst:TokenType>http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken</wst:TokenType>
      <wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Renew</wst:RequestType>
      <wsse:BinarySecurityToken ValueType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#PKCS7" EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary">${Buffer.from(p7).toString('base64')}</wsse:BinarySecurityToken>
      <ac:AdditionalContext xmlns="http://schemas.xmlsoap.org/ws/2006/12/authorization">
        <ac:ContextItem Name="DeviceType"><ac:Value>CIMClient_Windows</ac:Value></ac:ContextItem>
        <ac:ContextItem Name="ApplicationVersion"><ac:Value>${esc(this.o.osVersion ?? '10.0.19045.0')}</ac:Value></ac:ContextItem>
      </ac:AdditionalContext>
    </wst:RequestSecurityToken>
  </s:Body>
</s:Envelope>`;
    const clientCert = o.clientCert === undefined ? this.identity : o.clientCert;
    const headers: Record<string, string> = clientCert ? { 'X-Client-Cert': encodeURIComponent(toPem(clientCert)) } : {};
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8', ...headers }, body });
    const text = await res.text();
    const root = parseXml(text);
    const fault = child(child(root, 'Body'), 'Fault');
    if (fault) return { status: res.status, body: text, fault: { subcode: textAt(fault, 'Code', 'Subcode', 'Value') ?? '', reason: textAt(fault, 'Reason', 'Text') ?? '' } };
    const bst = textAt(root, 'Body', 'RequestSecurityTokenResponseCollection', 'RequestSecurityTokenResponse', 'RequestedSecurityToken', 'BinarySecurityToken');
    if (!bst) throw new Error(`RSTR without BinarySecurityToken: ${text}`);
    const doc = parseXml(Buffer.from(bst, 'base64').toString('utf8'));
    const chars = (el: El | undefined, type: string) => childrenNamed(el, 'characteristic').filter((c) => c.attrs.type === type);
    const parm = (el: El | undefined, name: string) => childrenNamed(el, 'parm').find((p) => p.attrs.name === name)?.attrs.value;
    if (parm(chars(doc, 'APPLICATION')[0], 'PROVIDER-ID') !== 'mdm-gateway') throw new Error('renewal answer without our PROVIDER-ID');
    let issued: Buffer | undefined;
    for (const my of chars(chars(doc, 'CertificateStore')[0], 'My')) {
      for (const loc of [...chars(my, 'User'), ...chars(my, 'System')]) {
        for (const c of loc.children) {
          const enc = parm(c, 'EncodedCertificate');
          if (!enc) continue;
          issued = Buffer.from(enc, 'base64');
          if (new X509Certificate(issued).fingerprint.replace(/:/g, '') !== c.attrs.type) throw new Error('identity characteristic is not named by its thumbprint');
        }
      }
    }
    if (!issued) throw new Error('renewal answer without a certificate');
    if (!new X509Certificate(issued).publicKey.equals(createPublicKey(newKey.keyObject))) {
      throw new Error('the renewed certificate is not for the key the renewal sent');
    }
    if (!o.installFails) {
      this.identity = issued;
      this.key = newKey;
    }
    return { status: res.status, body: text };
  }

  /** Full MS-MDE2 enrollment; returns the RST result. */
  async enroll(): Promise<EnrollResult> {
    const d = await this.discover();
    if (d.authPolicy !== 'OnPremise') throw new Error(`auth policy ${d.authPolicy}`);
    const p = await this.getPolicies(d.policyUrl);
    if (p.status !== 200) throw new Error(`GetPolicies ${p.status}`);
    return this.requestSecurityToken(d.enrollmentUrl);
  }

  /** POSTs one client message; returns the parsed server message. */
  async post(xml: string, headers: Record<string, string> = this.certHeader()): Promise<{ status: number; text: string; msg?: ServerMessage }> {
    const res = await fetch(this.managementUrl ?? `${this.o.baseUrl}/ManagementServer/MDM.svc`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.syncml.dm+xml', ...headers },
      body: xml,
    });
    const text = await res.text();
    if (res.status !== 200) return { status: res.status, text };
    const root = parseXml(text);
    const body = child(root, 'SyncBody');
    const all = body?.children ?? [];
    return { status: 200, text, msg: { raw: text, root, statuses: all.filter((c) => c.name === 'Status'), commands: all.filter((c) => !['Status', 'Final'].includes(c.name)) } };
  }

  message(sessionId: string, msgId: number, body: string): string {
    return `<?xml version="1.0" encoding="UTF-8"?>
<SyncML xmlns="SYNCML:SYNCML1.2">
  <SyncHdr>
    <VerDTD>1.2</VerDTD>
    <VerProto>DM/1.2</VerProto>
    <SessionID>${sessionId}</SessionID>
    <MsgID>${msgId}</MsgID>
    <Target><LocURI>${esc(this.managementUrl ?? '')}</LocURI></Target>
    <Source><LocURI>${esc(this.hardwareId)}</LocURI></Source>
  </SyncHdr>
  <SyncBody>
${body}
    <Final/>
  </SyncBody>
</SyncML>`;
  }

  firstPackage(): string {
    const devInfo: [string, string][] = [
      ['./DevInfo/DevId', this.hardwareId],
      ['./DevInfo/Man', 'Contoso Hardware'],
      ['./DevInfo/Mod', 'Simulated Laptop'],
      ['./DevInfo/DmV', '1.3'],
      ['./DevInfo/Lang', 'en-US'],
    ];
    return [
      `    <Alert><CmdID>1</CmdID><Data>1201</Data></Alert>`,
      `    <Alert><CmdID>2</CmdID><Data>1224</Data><Item><Meta><Type xmlns="syncml:metinf">com.microsoft/MDM/LoginStatus</Type><Format xmlns="syncml:metinf">chr</Format></Meta><Data>${this.loginStatus}</Data></Item></Alert>`,
      `    <Replace><CmdID>3</CmdID>${devInfo.map(([t, v]) => `<Item><Source><LocURI>${t}</LocURI></Source><Data>${esc(v)}</Data></Item>`).join('')}</Replace>`,
    ].join('\n');
  }

  /** Applies one server command to the DM tree; returns [status xml, results xml?]. */
  private apply(cmd: El, msgId: string, nextId: () => number, inAtomic: boolean): string[] {
    const cmdId = textAt(cmd, 'CmdID') ?? '';
    const status = (code: number, name = cmd.name) => `    <Status><CmdID>${nextId()}</CmdID><MsgRef>${msgId}</MsgRef><CmdRef>${cmdId}</CmdRef><Cmd>${name}</Cmd><Data>${code}</Data></Status>`;
    if (cmd.name === 'Atomic') {
      const snapshot = new Map(this.tree);
      const pendingBefore = this.pending.length;
      const inner = cmd.children.filter((c) => c.name !== 'CmdID');
      const out: string[] = [];
      const codes: number[] = [];
      const innerOut: string[] = [];
      for (const c of inner) {
        const r = this.apply(c, msgId, () => 0, true);
        const code = Number(/<Data>(\d+)<\/Data>/.exec(r[0]!)![1]);
        codes.push(code);
        innerOut.push(r[0]!);
      }
      const ok = codes.every((c) => c < 300);
      if (!ok) {
        this.tree = snapshot;
        this.pending.length = pendingBefore;
      }
      out.push(status(ok ? 200 : 507));
      inner.forEach((c, i) => {
        const code = ok ? codes[i]! : codes[i]! < 300 ? 216 : codes[i]!;
        out.push(`    <Status><CmdID>${nextId()}</CmdID><MsgRef>${msgId}</MsgRef><CmdRef>${textAt(c, 'CmdID')}</CmdRef><Cmd>${c.name}</Cmd><Data>${code}</Data></Status>`);
      });
      void innerOut;
      return out;
    }
    const target = textAt(child(cmd, 'Item'), 'Target', 'LocURI') ?? '';
    const data = textAt(child(cmd, 'Item'), 'Data');
    switch (cmd.name) {
      case 'Get': {
        if (inAtomic) return [status(500)];
        const v = this.tree.get(target);
        if (v === undefined) return [status(404)];
        return [status(200), `    <Results><CmdID>${nextId()}</CmdID><MsgRef>${msgId}</MsgRef><CmdRef>${cmdId}</CmdRef><Item><Source><LocURI>${esc(target)}</LocURI></Source><Data>${esc(v)}</Data></Item></Results>`];
      }
      case 'Add': {
        if (this.tree.has(target)) return [status(418)];
        this.tree.set(target, data ?? '');
        const root = ROOT_NODE.exec(target);
        if (root) this.events.push(`root:${root[1]}`);
        return [status(200)];
      }
      case 'Replace':
        if (!this.tree.has(target) && !this.tree.has(target.replace(/\/Install\/[^/]+$/, ''))) return [status(404)];
        this.tree.set(target, data ?? '');
        return [status(200)];
      case 'Delete': {
        if (!this.tree.has(target)) return [status(404)];
        for (const k of [...this.tree.keys()]) if (k === target || k.startsWith(`${target}/`)) this.tree.delete(k);
        return [status(200)];
      }
      case 'Exec': {
        const m = /^(.*\/SCEP\/[^/]+)\/Install\/Enroll$/.exec(target);
        if (!m || !this.tree.has(m[1]!)) return [status(404)];
        this.pending.push({ node: m[1]!, legacy: target.includes('/CertificateStore/') });
        return [status(200)];
      }
      default:
        return [status(406)];
    }
  }

  /** Runs one complete OMA-DM session; afterwards performs the SCEP enrollments Exec started. */
  async session(extraFirst = ''): Promise<SessionLog> {
    const sessionId = String(++this.sessionCounter);
    const log: SessionLog = { messages: [], enrolled: [] };
    let msgId = 1;
    let body = this.firstPackage() + extraFirst;
    for (let round = 0; round < 20; round++) {
      const r = await this.post(this.message(sessionId, msgId, body));
      if (!r.msg) throw new Error(`MDM.svc: HTTP ${r.status}: ${r.text}`);
      log.messages.push(r.msg);
      const serverMsgId = textAt(r.msg.root, 'SyncHdr', 'MsgID') ?? '';
      if (r.msg.commands.length === 0) break;
      let id = 0;
      const out: string[] = [];
      for (const c of r.msg.commands) out.push(...this.apply(c, serverMsgId, () => ++id, false));
      msgId++;
      body = out.join('\n');
    }
    for (const p of this.pending.splice(0)) log.enrolled.push(await this.runScep(p));
    return log;
  }

  private node(n: string, name: string): string | undefined {
    return this.tree.get(`${n}/Install/${name}`);
  }

  /** What the CSP does after Exec Enroll: a real SCEP enrollment with the configured values. */
  private async runScep(p: PendingEnroll): Promise<SessionLog['enrolled'][number]> {
    const finish = (status: number, errorCode?: number, thumbprint?: string) => {
      this.tree.set(`${p.node}/Status`, String(status));
      this.tree.set(`${p.node}/ErrorCode`, String(errorCode ?? 0));
      this.tree.set(`${p.node}/CertThumbprint`, thumbprint ?? '');
      this.tree.delete(`${p.node}/Install/Challenge`); // "deleted by the device shortly after Exec"
      return { node: p.node, status, ...(errorCode !== undefined && { errorCode: `0x${(errorCode >>> 0).toString(16).toUpperCase()}` }), ...(thumbprint && { thumbprint }) };
    };
    if (this.scepBehaviour === 'unreachable') return finish(16, 0x80072efd);
    const serverUrl = (this.node(p.node, 'ServerURL') ?? '').split(';')[0]!;
    const challenge = this.node(p.node, 'Challenge') ?? '';
    const subject = parseWindowsName(this.node(p.node, 'SubjectName') ?? '');
    const sans = (this.node(p.node, 'SubjectAlternativeNames') ?? '')
      .split(';')
      .filter(Boolean)
      .map((pair) => {
        const plus = pair.indexOf('+');
        return { type: SAN_TYPES[pair.slice(0, plus)]!, value: pair.slice(plus + 1) };
      });
    const kuBits = Number(this.node(p.node, 'KeyUsage'));
    const ekus = (this.node(p.node, 'EKUMapping') ?? '').split('+').filter(Boolean);
    const keyLength = Number(this.node(p.node, 'KeyLength'));
    const caThumbprint = this.node(p.node, 'CAThumbprint') ?? '';
    // The root of the chain GetCACert returns (a subordinate CA's answer carries it after the CA).
    const { all } = await getCaCerts(serverUrl);
    if (!all.some((c) => new X509Certificate(c).fingerprint.replace(/:/g, '') === caThumbprint.toUpperCase())) return finish(16, 0x800b0109);
    const key = await generateDeviceKey('RSA', keyLength);
    let usages = 0;
    for (const [bit, flag] of KU_MAP) if (kuBits & bit) usages |= flag;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: subject,
      keys: key.keys,
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      extensions: [
        ...(sans.length ? [new x509.SubjectAlternativeNameExtension(sans.map((s) => ({ type: s.type === 'uri' ? 'url' : s.type, value: s.value }) as x509.JsonGeneralName))] : []),
        new x509.KeyUsagesExtension(usages, true),
        new x509.ExtendedKeyUsageExtension(ekus),
      ],
      attributes: [new x509.ChallengePasswordAttribute(challenge)],
    });
    const r = await scepEnroll({ scepUrl: serverUrl, challenge, subject: 'CN=windows-sim-signer', key, csrOverride: new Uint8Array(csr.rawData) });
    if (r.status === 'PENDING') return finish(2);
    if (r.status !== 'SUCCESS' || !r.certificate) return finish(16, 0x80094800);
    this.events.push(`cert:${this.trustedIssuerOf(r.certificate) ?? 'untrusted'}`);
    return finish(1, undefined, new X509Certificate(r.certificate).fingerprint.replace(/:/g, ''));
  }

  /** Thumbprint of the root in the device's trusted store that signed `certificate`, if any. */
  trustedIssuerOf(certificate: Uint8Array): string | null {
    const cert = new X509Certificate(certificate);
    for (const [node, b64] of this.tree) {
      const m = ROOT_NODE.exec(node);
      if (!m) continue;
      const root = new X509Certificate(Buffer.from(b64, 'base64'));
      if (cert.checkIssued(root) && cert.verify(root.publicKey)) return m[1]!;
    }
    return null;
  }
}
