import { CA_CAPABILITIES } from '../../scep/service.js';
import type { Evidence } from '../evidence.js';
import { ok, problem, warning, type Finding } from '../finding.js';

// GetCACaps must list what the server really does (RFC 8894 3.5.2): a client
// picks its cipher, digest and POST from this list. CA_CAPABILITIES is
// generated from what this build's codec does (src/scep/service.ts).

/** RFC 8894 3.5.2: AES, SHA-256 and POSTPKIOperation are what SCEPStandard implies; Renewal is what renewing clients look for. */
const EXPECTED = ['AES', 'SHA-256', 'POSTPKIOperation', 'Renewal', 'SCEPStandard'] as const;

export function parseCaps(body: Uint8Array): string[] {
  return Buffer.from(body)
    .toString('utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

export function checkCaCaps(ev: Evidence): Finding[] {
  const caps = ev.probe.caps;
  if (!caps) return [];
  const url = `${ev.probe.scepUrl}?operation=GetCACaps`;
  if (caps.status !== 200) {
    return [problem(`GetCACaps answered HTTP ${caps.status} at ${url}`, 'the URL must lead to the gateway\'s SCEP path (check MDMGW_PUBLIC_URL and the proxy\'s location rules)')];
  }
  const out: Finding[] = [];
  if (!/^text\/plain\b/i.test(caps.contentType)) {
    out.push(warning(`GetCACaps Content-Type is "${caps.contentType}", not text/plain`, 'serve GetCACaps straight from the gateway (a proxy is rewriting the Content-Type)'));
  }
  const advertised = parseCaps(caps.body);
  const supported = new Set<string>(CA_CAPABILITIES);
  const unsupported = advertised.filter((c) => !supported.has(c));
  if (unsupported.length > 0) {
    out.push(problem(`GetCACaps advertises ${unsupported.join(', ')}, which this gateway does not implement: clients that use it fail`, 'serve the SCEP path from mdm-gateway itself, or upgrade the doctor and gateway to the same version'));
  }
  const missing = EXPECTED.filter((c) => !advertised.includes(c));
  if (missing.length > 0) {
    out.push(warning(`GetCACaps does not advertise ${missing.join(', ')}: clients fall back to weaker algorithms or GET`, 'serve the SCEP path from mdm-gateway itself (it advertises ' + CA_CAPABILITIES.join(' ') + ')'));
  }
  if (unsupported.length === 0 && missing.length === 0) out.push(ok(`GetCACaps: ${advertised.join(' ')}`));
  return out;
}
