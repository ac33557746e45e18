import { daysLeft, type CertificateFacts } from '../certificate-facts.js';
import { ok, problem, warning, type Finding } from '../finding.js';

/** Under this many days left a certificate is a warning; expired is a problem. */
export const VALIDITY_WARNING_DAYS = 30;

/** Validity of one of the gateway's certificates; `renew` says how to replace it. */
export function validityFindings(what: string, facts: CertificateFacts, now: Date, renew: string): Finding[] {
  if (facts.notBefore > now) {
    return [problem(`${what} is not valid before ${facts.notBefore.toISOString()}`, 'check this machine\'s clock (NTP); a certificate from the future is refused by every client')];
  }
  const left = daysLeft(facts.notAfter, now);
  if (facts.notAfter <= now) return [problem(`${what} expired on ${facts.notAfter.toISOString()}`, renew)];
  if (left < VALIDITY_WARNING_DAYS) return [warning(`${what} expires in ${left} days (${facts.notAfter.toISOString()})`, renew)];
  return [ok(`${what} valid for ${left} more days`)];
}
