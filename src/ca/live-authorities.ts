import { authoritiesOf, type Authorities } from './authorities.js';
import type { CertificateAuthority } from './authority.js';

// Which CAs the gateway still runs after rollovers: the current one, and each
// retired one while anything it signed is unexpired (its CRL and OCSP answers
// still matter, its device identities still check in). A retired CA whose own
// certificate expired, or whose last certificate did, is left out; its files
// stay in ca-retired/ (an operator may need them for an audit).

export interface IssuerExpiry {
  lastExpiryByIssuer(issuerId: string): Promise<string | null>;
}

export async function liveAuthorities(current: CertificateAuthority, retired: readonly CertificateAuthority[], storage: IssuerExpiry, now = new Date()): Promise<Authorities> {
  const live: CertificateAuthority[] = [];
  for (const ca of retired) {
    if (ca.notAfter.getTime() <= now.getTime()) continue;
    const last = await storage.lastExpiryByIssuer(ca.id);
    if (last !== null && Date.parse(last) > now.getTime()) live.push(ca);
  }
  return authoritiesOf([current, ...live]);
}
