import { currentCertificate, type IssuedFacts } from '../../core/renewal.js';
import type { InstalledCertificate } from './state.js';

// What the certificates this gateway issued to a device say about its
// policies. They are the record of what really happened at the SCEP server,
// so they beat what the agent reports: an agent may omit the certificate from
// its status report (then only an estimate from validityDays was known), and
// may enroll without ever reporting back (crash, lost network), having spent
// the challenge all the same. Pure: the route reads the certificates once per
// policy fetch (AdapterServices.certificates.list).

/** The fields used here (core/renewal.ts); the route passes whole IssuedCertificates. */
export type { IssuedFacts };

/** The issued certificate whose validity times renewal: core's rule (core/renewal.ts currentCertificate). */
export const renewalCertificate = (issued: readonly IssuedFacts[], profileId: string, profileVersion: number, reportedThumbprint: string | undefined): IssuedFacts | undefined =>
  currentCertificate(issued, profileId, profileVersion, reportedThumbprint);

/** The agent's installed record, with the validity of the issued certificate when there is one (else as reported or estimated). */
export function withIssuedValidity(installed: InstalledCertificate | undefined, issued: readonly IssuedFacts[], profileId: string): InstalledCertificate | undefined {
  if (!installed) return undefined;
  const cert = renewalCertificate(issued, profileId, installed.profileVersion, installed.thumbprint);
  return cert ? { ...installed, notBefore: cert.notBefore, notAfter: cert.notAfter } : installed;
}

/**
 * Whether a challenge minted at `mintedAt` for this profile was spent: a
 * certificate for the profile was issued after it (any version, revoked or
 * not: issuing is what spends it). An older challenge used late can make this
 * say yes wrongly; that costs one fresh challenge, while serving a spent one
 * would leave the agent stuck until it reports.
 */
export function challengeSpent(issued: readonly IssuedFacts[], profileId: string, mintedAt: string): boolean {
  const minted = Date.parse(mintedAt);
  return issued.some((c) => c.profileId === profileId && Date.parse(c.issuedAt) > minted);
}
