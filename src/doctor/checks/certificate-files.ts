import type { Evidence } from '../evidence.js';
import { ok, problem, type Finding } from '../finding.js';

// Config mode: ca.pem and ra.pem exist in the data directory and are certificates.

export function checkCertificateFiles(ev: Evidence): Finding[] {
  const { errors, origin } = ev.certificates;
  if (errors.length === 0) return [ok(`ca.pem and ra.pem in ${origin}`)];
  return errors.map((e) => problem(e.message, e.fix));
}
