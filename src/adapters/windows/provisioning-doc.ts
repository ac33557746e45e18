import { X509Certificate } from 'node:crypto';
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';

// The wap-provisioningdoc returned inside the RSTR, as in the sample of
// on-premise-authentication-device-enrollment.md: CertificateStore Root/System
// (the root the device must trust for TLS and for our identity certificate),
// CertificateStore My/User or My/System (the device identity certificate; the
// client pairs it with the key it generated for the PKCS#10), the w7
// APPLICATION characteristic (the OMA-DM account: ADDR is the management URL)
// and DMClient Provider/<PROVIDER-ID>/Poll (the polling schedule; ProviderID
// must equal PROVIDER-ID).
//
// CertificateStore My/WSTEP/Renew (certificate-renewal-windows-mdm.md, the
// sample in certificate-authentication-device-enrollment.md) turns on the
// automatic renewal (ROBO) of the identity: ServerURL is our enrollment
// service, RenewPeriod the days before expiry it starts (the identity's
// renewal period, core/identity-renewal.ts), RetryInterval the days between
// attempts. A renewal answer carries only the new certificate and the
// PROVIDER-ID (renewalProvisioningDoc).
//
// Differences from the sample, on purpose:
// - no APPAUTH: the device authenticates with the identity certificate over TLS, not with DIGEST/BASIC;
// - DEFAULTENCODING is application/vnd.syncml.dm+xml: the management endpoint speaks XML, not WBXML.

export const PROVIDER_ID = 'mdm-gateway';

export interface ProvisioningInput {
  rootDer: Uint8Array;
  identityDer: Uint8Array;
  /** 'User' for a user-driven enrollment, 'System' for a device enrollment. */
  identityStore: 'User' | 'System';
  managementUrl: string;
  deviceName: string;
  /** The WSTEP renewal settings (CertificateStore/My/WSTEP/Renew). */
  renewal: RenewalSettings;
}

export interface RenewalSettings {
  /** Where the client sends the renewal RST: our enrollment service. */
  serverUrl: string;
  /** Days before the certificate expires that the client starts renewing. */
  renewPeriodDays: number;
  /** Days between renewal attempts while it fails. */
  retryIntervalDays: number;
}

/** Days between renewal attempts: Microsoft recommends every few days (4-5) rather than weekly. */
export const RENEW_RETRY_INTERVAL_DAYS = 4;

/**
 * RenewPeriod for an identity certificate: the days of its last
 * `thresholdPercent` (rounded down, so the client never asks before the
 * server's renewal period has begun).
 */
export function renewPeriodDays(der: Uint8Array, thresholdPercent: number): number {
  const c = new X509Certificate(der);
  const lifetimeDays = (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000;
  return Math.max(1, Math.floor((lifetimeDays * thresholdPercent) / 100));
}

export const thumbprintOf = (der: Uint8Array) => new X509Certificate(der).fingerprint.replace(/:/g, '').toUpperCase();

/** Subject in the certificate's own RDN order, URL-encoded as SSLCLIENTCERTSEARCHCRITERIA expects. */
function searchCriteria(der: Uint8Array, store: 'User' | 'System'): string {
  const subject = new X509Certificate(der).subject.split('\n').join(',');
  return `Subject=${encodeURIComponent(subject)}&Stores=${encodeURIComponent(`My\\${store}`)}`;
}

const parm = (c: XMLBuilder, name: string, value?: string, datatype?: string) => {
  const p = c.ele('parm').att('name', name);
  if (value !== undefined) p.att('value', value);
  if (datatype) p.att('datatype', datatype);
  return p;
};

export function provisioningDoc(i: ProvisioningInput): string {
  const doc = create().ele('wap-provisioningdoc').att('version', '1.1');
  const root = doc.ele('characteristic').att('type', 'CertificateStore').ele('characteristic').att('type', 'Root').ele('characteristic').att('type', 'System');
  parm(root.ele('characteristic').att('type', thumbprintOf(i.rootDer)), 'EncodedCertificate', Buffer.from(i.rootDer).toString('base64'));
  const my = doc.ele('characteristic').att('type', 'CertificateStore').ele('characteristic').att('type', 'My').ele('characteristic').att('type', i.identityStore);
  parm(my.ele('characteristic').att('type', thumbprintOf(i.identityDer)), 'EncodedCertificate', Buffer.from(i.identityDer).toString('base64'));
  my.ele('characteristic').att('type', 'PrivateKeyContainer');
  // The datatypes must be set explicitly when present (the sample's comment).
  const renew = my.up().ele('characteristic').att('type', 'WSTEP').ele('characteristic').att('type', 'Renew');
  parm(renew, 'ROBOSupport', 'true', 'boolean');
  parm(renew, 'RenewPeriod', String(i.renewal.renewPeriodDays), 'integer');
  parm(renew, 'RetryInterval', String(i.renewal.retryIntervalDays), 'integer');
  parm(renew, 'ServerURL', i.renewal.serverUrl, 'string');
  const app = doc.ele('characteristic').att('type', 'APPLICATION');
  parm(app, 'APPID', 'w7');
  parm(app, 'PROVIDER-ID', PROVIDER_ID);
  parm(app, 'NAME', 'mdm-gateway');
  parm(app, 'ADDR', i.managementUrl);
  parm(app, 'CONNRETRYFREQ', '6');
  parm(app, 'INITIALBACKOFFTIME', '30000');
  parm(app, 'MAXBACKOFFTIME', '120000');
  parm(app, 'BACKCOMPATRETRYDISABLED');
  parm(app, 'DEFAULTENCODING', 'application/vnd.syncml.dm+xml');
  parm(app, 'SSLCLIENTCERTSEARCHCRITERIA', searchCriteria(i.identityDer, i.identityStore));
  const provider = doc.ele('characteristic').att('type', 'DMClient').ele('characteristic').att('type', 'Provider').ele('characteristic').att('type', PROVIDER_ID);
  const poll = provider.ele('characteristic').att('type', 'Poll');
  parm(poll, 'NumberOfFirstRetries', '8', 'integer');
  parm(poll, 'IntervalForFirstSetOfRetries', '15', 'integer');
  parm(poll, 'NumberOfSecondRetries', '5', 'integer');
  parm(poll, 'IntervalForSecondSetOfRetries', '3', 'integer');
  parm(poll, 'NumberOfRemainingScheduledRetries', '0', 'integer');
  parm(poll, 'IntervalForRemainingScheduledRetries', '1560', 'integer');
  parm(poll, 'PollOnLogin', 'true', 'boolean');
  parm(provider, 'EntDeviceName', i.deviceName, 'string');
  return doc.end({ headless: true });
}

/**
 * The renewal answer (certificate-renewal-windows-mdm.md, "Certificate renewal
 * response"): the new certificate in the same store, and the PROVIDER-ID. The
 * root is on the device already (it authenticated over TLS with it).
 */
export function renewalProvisioningDoc(i: Pick<ProvisioningInput, 'identityDer' | 'identityStore'>): string {
  const doc = create().ele('wap-provisioningdoc').att('version', '1.1');
  const my = doc.ele('characteristic').att('type', 'CertificateStore').ele('characteristic').att('type', 'My').ele('characteristic').att('type', i.identityStore);
  parm(my.ele('characteristic').att('type', thumbprintOf(i.identityDer)), 'EncodedCertificate', Buffer.from(i.identityDer).toString('base64'));
  my.ele('characteristic').att('type', 'PrivateKeyContainer');
  parm(doc.ele('characteristic').att('type', 'APPLICATION'), 'PROVIDER-ID', PROVIDER_ID);
  return doc.end({ headless: true });
}
