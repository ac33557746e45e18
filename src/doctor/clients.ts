import type { CheckResult, ClientId, Finding, Severity } from './finding.js';
import { worst } from './finding.js';

// One line per client family, derived from the check findings. Each family
// names the checks it depends on and what it needs beyond them, with where
// that fact comes from (reference/ is the team's shelf of published
// specifications, see docs/doctor.md).

export interface ClientFamily {
  id: ClientId;
  name: string;
  /** Check ids whose findings concern this client (a finding may narrow itself to fewer clients). */
  needs: readonly string[];
  /** What this client needs that holds by construction in this gateway, or that the admin must set on the client. */
  note: string;
}

const SCEP_BASICS = ['ca-certificate', 'ra-certificate', 'ca-caps', 'ca-cert-response', 'reachability', 'clock'] as const;

export const CLIENT_FAMILIES: readonly ClientFamily[] = [
  {
    id: 'apple',
    name: 'Apple (iOS, macOS)',
    needs: [...SCEP_BASICS, 'apns'],
    // com.apple.mdm.yaml: ServerURL/CheckInURL ^https://, Topic from the push certificate;
    // com.apple.security.scep.yaml: Key Type "Always 'RSA'".
    note: 'https MDM URL with a trusted chain, the APNs push certificate, RSA keys',
  },
  {
    id: 'windows10',
    name: 'Windows 10/11',
    needs: SCEP_BASICS,
    // reference/windows/clientcertificateinstall-scep.md: HashAlgorithm SHA-1/SHA-2, KeyLength 1024/2048/4096,
    // CAThumbprint = SHA-1 of the root; server-requirements-windows-mdm.md: HTTPS with a trusted root.
    note: 'ClientCertificateInstall CSP (SHA-2, CAThumbprint of our root), https with a trusted root',
  },
  {
    id: 'windows81',
    name: 'Windows 8.1',
    needs: SCEP_BASICS,
    // clientcertificateinstall-scep.md: CertificateStore CSP with the same Install nodes;
    // docs/decisions.md: Windows 8.1/Phone 8.1 need an RSA chain.
    note: 'CertificateStore CSP (same Install nodes), an RSA chain, https with a trusted root',
  },
  {
    id: 'android',
    name: 'Android agent',
    needs: SCEP_BASICS,
    // reference/android/notes.md: the agent's policy carries the SCEP URL and the CA's SHA-256 fingerprint;
    // an HTTPS SCEP URL (http only for lab use).
    note: 'the policy\'s SCEP URL and CA SHA-256 fingerprint, https',
  },
  {
    id: 'certmonger',
    name: 'certmonger',
    needs: [...SCEP_BASICS, 'pki-operation-get'],
    // notes/stack-facts.md: scep-submit sends PKIOperation by GET and verifies the CertRep signature and
    // the RA chain strictly with OpenSSL; docs/scep.md: it needs digitalSignature on the RA.
    note: 'PKIOperation by GET, an RA with digitalSignature chaining to the CA',
  },
  {
    id: 'scepclient',
    name: 'micromdm scepclient',
    needs: SCEP_BASICS,
    // notes/stack-facts.md and docs/scep.md: scepclient 2.1.0 sends DES-CBC with SHA-1 whatever GetCACaps says
    // (accepted on input), GET for GetCACert/GetCACaps and POST for PKIOperation, a PKCS#1 key file.
    note: 'DES-CBC + SHA-1 requests (accepted on input), POST PKIOperation, an RA with keyEncipherment',
  },
  {
    id: 'sscep',
    name: 'sscep',
    needs: SCEP_BASICS,
    // certnanny/sscep src/sscep.c: defaults -E des and -S md5 (MD5 is not accepted here: docs/scep.md
    // digests), POST when GetCACaps has POSTPKIOperation or SCEPStandard, http:// URLs only.
    note: '-S sha256 or sha1 (its default md5 is refused), -E aes or 3des, an http:// URL',
  },
];

export type ClientStatus = 'OK' | 'WARN' | 'FAIL';

export interface ClientLine {
  client: ClientId;
  name: string;
  status: ClientStatus;
  /** OK: what it needs; else the messages of the findings that make it WARN/FAIL. */
  summary: string;
  issues: { severity: Severity; message: string; fix: string }[];
}

const STATUS: Record<Severity, ClientStatus> = { ok: 'OK', warning: 'WARN', problem: 'FAIL' };

function concerns(f: Finding, id: ClientId): boolean {
  return f.clients === undefined || f.clients.includes(id);
}

export function clientLines(results: readonly CheckResult[]): ClientLine[] {
  return CLIENT_FAMILIES.map((c) => {
    const relevant = results.filter((r) => c.needs.includes(r.check)).flatMap((r) => r.findings.filter((f) => concerns(f, c.id)));
    const issues = relevant.filter((f) => f.severity !== 'ok').map((f) => ({ severity: f.severity, message: f.message, fix: f.fix ?? '' }));
    const status = STATUS[worst(relevant)];
    // The most severe issues first: the line leads with what stops the client.
    issues.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'problem' ? -1 : 1));
    return { client: c.id, name: c.name, status, summary: status === 'OK' ? c.note : issues.map((i) => i.message).join('; '), issues };
  });
}
