import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Name } from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import type { DeliveryReport } from '../../core/adapter.js';
import type { RdnAttribute } from '../../core/model.js';
import type { PlistValue } from './plist-codec.js';
import { appleAttributeType } from './scep-payload.js';
import type { AppleState } from './state.js';

// After an InstallProfile is acknowledged the adapter asks for the device's
// CertificateList and finds, for each installed profile that has no
// thumbprint yet, the certificate whose subject is the profile's resolved
// subject (the newest, if several). The report carries its SHA-1 thumbprint;
// core then matches it against what this gateway issued to this device for
// this profile, so a wrong match is flagged, not trusted.

const SHORT_OID: Record<string, string> = { CN: '2.5.4.3', O: '2.5.4.10', OU: '2.5.4.11', L: '2.5.4.7', ST: '2.5.4.8', C: '2.5.4.6' };

const oidOf = (type: string) => {
  const t = appleAttributeType(type);
  return SHORT_OID[t] ?? t;
};

export function subjectKey(rdns: readonly RdnAttribute[]): string {
  return rdns
    .map((a) => `${oidOf(a.type)}=${a.value}`)
    .sort()
    .join('\n');
}

function certSubjectKey(der: Uint8Array): { key: string; notBefore: Date; thumbprint: string } | null {
  try {
    const c = new x509.X509Certificate(der);
    const key = AsnConvert.parse(c.subjectName.toArrayBuffer(), Name)
      .flatMap((rdn) => rdn.map((a) => `${a.type}=${a.value.toString()}`))
      .sort()
      .join('\n');
    return { key, notBefore: c.notBefore, thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase() };
  } catch {
    return null;
  }
}

export function matchCertificateList(state: AppleState, list: PlistValue | undefined): DeliveryReport[] {
  if (!Array.isArray(list)) return [];
  const certs = list.flatMap((item) => {
    const data = item && typeof item === 'object' && !Array.isArray(item) && !(item instanceof Uint8Array) && !(item instanceof Date) ? item.Data : undefined;
    const parsed = data instanceof Uint8Array ? certSubjectKey(data) : null;
    return parsed ? [parsed] : [];
  });
  const reports: DeliveryReport[] = [];
  for (const [profileId, rec] of Object.entries(state.profiles)) {
    if (rec.status !== 'installed' || rec.thumbprint || !rec.subject) continue;
    const want = subjectKey(rec.subject);
    const best = certs.filter((c) => c.key === want).sort((a, b) => b.notBefore.getTime() - a.notBefore.getTime())[0];
    if (!best) continue;
    rec.thumbprint = best.thumbprint;
    reports.push({ profileId, profileVersion: rec.version, state: 'installed', thumbprint: best.thumbprint, detail: 'thumbprint from the device CertificateList' });
  }
  return reports;
}
