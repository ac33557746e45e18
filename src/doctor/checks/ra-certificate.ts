import { certificateFacts } from '../certificate-facts.js';
import type { Evidence } from '../evidence.js';
import { ok, problem, warning, type Finding } from '../finding.js';
import { verifyIssuedBy } from '../../x509/certificate-info.js';
import { RA_RENEW_BEFORE_DAYS } from '../../ca/key-files.js';
import { validityFindings } from './validity.js';

// The SCEP RA certificate: clients encrypt their request to it (RSA key
// transport, so keyEncipherment and an RSA key) and verify every CertRep
// signed by it (digitalSignature; certmonger's OpenSSL check also walks the
// RA's chain to the CA). docs/scep.md "Certificates".

// The gateway re-issues (new key) an RA that expires within RA_RENEW_BEFORE_DAYS at start (key-files.ts).
const REISSUE_RA = `delete ra.pem and ra.key from the data directory (keep a copy) and restart the gateway: it issues a new RA (it also does so by itself at start within ${RA_RENEW_BEFORE_DAYS} days of expiry)`;

export async function checkRaCertificate(ev: Evidence): Promise<Finding[]> {
  const { ra, ca, origin } = ev.certificates;
  if (!ra) return [];
  let facts;
  try {
    facts = certificateFacts(ra);
  } catch (e) {
    return [problem(`the RA certificate from ${origin} is unreadable: ${(e as Error).message}`, REISSUE_RA)];
  }
  const out: Finding[] = [];
  if (facts.keyType !== 'rsa') {
    out.push(problem(`RA key is ${facts.keyType}: SCEP clients encrypt the request to the RA with RSA key transport`, REISSUE_RA));
  } else if ((facts.keyBits ?? 0) < 2048) {
    out.push(warning(`RA key is RSA-${facts.keyBits}: under 2048 bits`, REISSUE_RA));
  }
  const usage = facts.keyUsage;
  if (usage && !usage.has('keyEncipherment')) {
    out.push(problem('RA certificate keyUsage lacks keyEncipherment: clients cannot encrypt their request to it (key transport)', REISSUE_RA));
  }
  if (usage && !usage.has('digitalSignature')) {
    // docs/scep.md: OpenSSL-based clients (certmonger) reject a CertRep whose signer lacks digitalSignature.
    out.push(problem('RA certificate keyUsage lacks digitalSignature: OpenSSL-based clients reject the CertReps it signs', REISSUE_RA, ['certmonger']));
  }
  if (usage && usage.has('keyEncipherment') && usage.has('digitalSignature')) out.push(ok('RA keyUsage digitalSignature, keyEncipherment'));
  if (facts.isCa) out.push(warning('RA certificate is a CA certificate (basicConstraints cA=TRUE)', REISSUE_RA));
  if (ca && !(await verifyIssuedBy(ra, ca))) {
    out.push(problem(`RA certificate (${facts.subject}) is not issued by the CA certificate: clients cannot chain CertReps to the root`, REISSUE_RA));
  }
  out.push(...validityFindings('RA certificate', facts, ev.now, REISSUE_RA));
  return out;
}
