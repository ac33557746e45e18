import { X509Certificate } from 'node:crypto';
import { caKeyMismatch } from '../../ca/key-files.js';
import { certificateFacts } from '../certificate-facts.js';
import type { Evidence } from '../evidence.js';
import { ok, problem, warning, type Finding } from '../finding.js';
import { validityFindings } from './validity.js';

// The CA certificate: it must be a CA (basicConstraints cA, keyCertSign,
// cRLSign: RFC 5280 4.2.1.3/4.2.1.9) that every client can chain to: a
// self-signed root, or a subordinate whose chain reaches one.

const REISSUE_CA =
  'a new root means re-enrolling every device: move the data directory aside, start the gateway to generate a new CA, and redeploy its certificate';

const CHAIN_FIX = "import the certificate again with its chain up to the self-signed root: 'mdmgw ca import --cert issued.pem --chain chain.pem' (docs/enterprise-pki.md)";

/**
 * A CA that is not self-signed (a subordinate of an enterprise root) is
 * fine when the chain the gateway hands out (ca-chain.pem; GetCACert in
 * --url mode) leads from it to a self-signed root: that root is what devices
 * trust. Each link is checked by its signature, not by names alone.
 */
function chainFinding(der: Uint8Array, ev: Evidence): Finding {
  const where = ev.mode === 'config' ? `${ev.certificates.origin}/ca-chain.pem` : ev.certificates.origin;
  const chain = (ev.certificates.chain ?? []).map((c) => new X509Certificate(c));
  if (chain.length === 0) {
    return warning(`CA certificate is not self-signed and ${where} has no chain above it: devices cannot be given the root it chains to`, CHAIN_FIX);
  }
  let current = new X509Certificate(der);
  const path: X509Certificate[] = [];
  for (;;) {
    const issuer = chain.find((c) => !path.includes(c) && c !== current && current.checkIssued(c) && current.verify(c.publicKey));
    if (!issuer) {
      return warning(`the CA chain in ${where} does not reach a self-signed root: nothing in it signed "${oneLine(current.subject)}" (issuer "${oneLine(current.issuer)}")`, CHAIN_FIX);
    }
    path.push(issuer);
    if (issuer.checkIssued(issuer) && issuer.verify(issuer.publicKey)) {
      return ok(`CA certificate chains to the self-signed root "${oneLine(issuer.subject)}" (${path.length - 1} intermediate(s), ${where})`);
    }
    current = issuer;
  }
}

const oneLine = (dn: string) => dn.replace(/\n/g, ', ');

export function checkCaCertificate(ev: Evidence): Finding[] {
  const der = ev.certificates.ca;
  if (!der) return [];
  let facts;
  try {
    facts = certificateFacts(der);
  } catch (e) {
    return [problem(`the CA certificate from ${ev.certificates.origin} is unreadable: ${(e as Error).message}`, 'restore ca.pem from backup')];
  }
  const out: Finding[] = [];
  if (!facts.isCa) out.push(problem(`CA certificate (${facts.subject}) lacks basicConstraints cA=TRUE`, REISSUE_CA));
  const missing = facts.keyUsage ? (['keyCertSign', 'cRLSign'] as const).filter((u) => !facts.keyUsage!.has(u)) : [];
  if (missing.length > 0) out.push(problem(`CA certificate keyUsage lacks ${missing.join(', ')}: clients refuse certificates it signs`, REISSUE_CA));
  if (!facts.selfSigned) out.push(chainFinding(der, ev));
  if (facts.keyType === 'rsa') {
    if ((facts.keyBits ?? 0) < 2048) out.push(problem(`CA key is RSA-${facts.keyBits}: under 2048 bits is refused by current clients and TLS stacks`, REISSUE_CA));
    else out.push(ok(`CA key RSA-${facts.keyBits}`));
  } else {
    // docs/ca-keys.md: Windows 8.1 / Windows Phone 8.1 and old SCEP stacks mis-handle ECDSA chains;
    // a P-256 CA (MDMGW_CA_KEY=p256) is a choice, so only those clients are warned.
    const name = facts.keyType === 'ec' && facts.curve === 'prime256v1' ? 'EC P-256' : `${facts.keyType}${facts.curve ? ` (${facts.curve})` : ''}`;
    out.push(warning(`CA key is ${name}, not RSA`, "Windows 8.1 and older SCEP clients need an RSA chain (docs/ca-keys.md): 'mdmgw ca rollover --key rsa3072' makes an RSA CA; devices get its root, then their certificates are re-issued under it", ['windows81']));
  }
  // MDMGW_CA_KEY applies to new CAs only: say so when the CA in the data directory is of another type.
  if (ev.requestedCaKey !== undefined) {
    const note = caKeyMismatch(ev.requestedCaKey, der);
    if (note) out.push(warning(note, `unset MDMGW_CA_KEY to keep this CA, or roll it over as the message says`));
  }
  out.push(...validityFindings('CA certificate', facts, ev.now, REISSUE_CA));
  return out;
}
