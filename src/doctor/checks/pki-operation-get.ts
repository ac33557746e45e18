import type { Evidence } from '../evidence.js';
import { ok, problem, type Finding } from '../finding.js';

// certmonger's scep-submit sends PKIOperation by GET even when POST is
// advertised (notes/stack-facts.md), so the path must take GET with a long
// query string. The gateway answers a GET without message= with 400 naming it.

const CERTMONGER = ['certmonger'] as const;

export function checkPkiOperationGet(ev: Evidence): Finding[] {
  if (!ev.probe.caps) return [];
  const a = ev.probe.pkiGet;
  if (a && a.status === 400 && Buffer.from(a.body).toString('utf8').includes('message=')) {
    return [ok('PKIOperation by GET is served', CERTMONGER)];
  }
  return [
    problem(
      `PKIOperation by GET ${a ? `answered HTTP ${a.status}` : 'did not answer'}: certmonger sends its requests by GET`,
      'let GET with a query string of up to 8 KiB through to the SCEP path (proxy method and URL length limits)',
      CERTMONGER,
    ),
  ];
}
