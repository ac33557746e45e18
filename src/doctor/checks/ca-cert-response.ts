import { readCertsOnly } from '../../scep/codec/index.js';
import { certificateFacts } from '../certificate-facts.js';
import type { Evidence } from '../evidence.js';
import { ok, problem, type Finding } from '../finding.js';

// GetCACert of a CA with an RA answers application/x-x509-ca-ra-cert: a
// certs-only PKCS#7 carrying the RA and the CA (RFC 8894 4.2.1.2). Clients
// choose their parser by the Content-Type: sscep reads
// application/x-x509-ca-cert as one DER certificate (certnanny/sscep
// src/sscep.c), so the PKCS#7 under that type is unreadable to it, and a
// client holding only the CA would encrypt its request to the CA, whose key
// does not decrypt requests here.

export const CA_RA_CERT_TYPE = 'application/x-x509-ca-ra-cert';

const FIX_TYPE = `serve GetCACert straight from the gateway: it answers ${CA_RA_CERT_TYPE} (a proxy or another server at this URL changes it)`;

export function checkCaCertResponse(ev: Evidence): Finding[] {
  const answer = ev.probe.caCert;
  if (!ev.probe.caps) return [];
  const url = `${ev.probe.scepUrl}?operation=GetCACert`;
  if (!answer) return [problem(`GetCACert did not answer at ${url}`, 'check the gateway log and the proxy in front of it')];
  if (answer.status !== 200) return [problem(`GetCACert answered HTTP ${answer.status} at ${url}`, FIX_TYPE)];
  const out: Finding[] = [];
  const type = answer.contentType.split(';')[0]!.trim().toLowerCase();
  if (type !== CA_RA_CERT_TYPE) {
    out.push(problem(`GetCACert answered Content-Type "${answer.contentType || '(none)'}", not ${CA_RA_CERT_TYPE}: clients read the CA and RA certificates by that type`, FIX_TYPE));
  }
  let certs: Uint8Array[];
  try {
    certs = readCertsOnly(answer.body);
  } catch (e) {
    out.push(problem(`GetCACert body is not a certs-only PKCS#7: ${(e as Error).message}`, FIX_TYPE));
    return out;
  }
  const roles = certs.map((der) => {
    try {
      return certificateFacts(der).isCa ? 'CA' : 'RA';
    } catch {
      return 'unreadable';
    }
  });
  if (!roles.includes('CA') || !roles.includes('RA')) {
    out.push(problem(`GetCACert carries ${certs.length} certificate(s) (${roles.join(', ') || 'none'}), not the RA and the CA`, FIX_TYPE));
  }
  // Config mode: the public URL must serve this data directory's certificates.
  if (ev.mode === 'config' && ev.certificates.ca && ev.certificates.ra) {
    const served = new Set(certs.map((c) => Buffer.from(c).toString('base64')));
    const stale = (['ca', 'ra'] as const).filter((k) => !served.has(Buffer.from(ev.certificates[k]!).toString('base64')));
    if (stale.length > 0) {
      out.push(
        problem(
          `the public URL serves another ${stale.map((s) => s.toUpperCase()).join(' and ')} certificate than ${ev.certificates.origin}`,
          'point MDMGW_PUBLIC_URL at this gateway, or restart the gateway so it serves the certificates now in its data directory',
        ),
      );
    }
  }
  if (out.length === 0) out.push(ok(`GetCACert: ${CA_RA_CERT_TYPE} with the RA and the CA`));
  return out;
}
