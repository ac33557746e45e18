import { readCertsOnly } from '../../scep/codec/index.js';
import { SCEP_PATHS } from '../../http/scep-routes.js';
import { certificateFacts } from '../certificate-facts.js';
import type { ApnsEvidence, Certificates, Evidence } from '../evidence.js';
import { probeScep, PROBE_TIMEOUT_MS, reasonOf } from '../http-probe.js';

// URL mode: a running gateway seen over HTTP only, as a device sees it. The
// CA and RA come from GetCACert; the APNs push certificate from the admin API
// when an admin token is given.

/** Splits a URL into the gateway's base and SCEP path: the base URL, or the full SCEP URL a device is given. */
export function scepTarget(url: URL): { base: string; scepPath: string } {
  const path = url.pathname.replace(/\/+$/, '');
  const scepPath = SCEP_PATHS.find((p) => path.endsWith(p));
  const basePath = scepPath ? path.slice(0, -scepPath.length) : path;
  return { base: `${url.origin}${basePath}`, scepPath: scepPath ?? SCEP_PATHS[0]! };
}

function certificatesFromCaCert(evidence: Pick<Evidence, 'probe'>, origin: string): Certificates {
  const certs: Certificates = { origin, ca: null, ra: null, chain: [], errors: [] };
  const body = evidence.probe.caCert?.status === 200 ? evidence.probe.caCert.body : null;
  if (!body) return certs; // ca-cert-response reports why
  try {
    for (const der of readCertsOnly(body)) {
      const facts = certificateFacts(der);
      // The first CA is ours (RA, CA, then the chain above it: RFC 8894 4.2.1.2); the other CAs are its chain.
      if (facts.isCa || facts.selfSigned) {
        if (certs.ca) certs.chain!.push(der);
        else certs.ca = der;
      } else certs.ra ??= der;
    }
  } catch {
    /* ca-cert-response reports an unreadable body */
  }
  return certs;
}

async function apnsFromAdminApi(base: string, adminToken: string | undefined, timeoutMs: number): Promise<ApnsEvidence> {
  if (!adminToken) return { state: 'not-checked', why: 'no admin token', fix: 'pass --admin-token (or set MDMGW_ADMIN_TOKEN) to check it through the admin API' };
  let res: Response;
  try {
    res = await fetch(`${base}/api/v1/apple/push-certificate`, { headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    return { state: 'not-checked', why: `the admin API did not answer: ${reasonOf(e)}`, fix: 'check that the admin API is reachable from here' };
  }
  const body = (await res.json().catch(() => ({}))) as { topic?: string; notAfter?: string; error?: string };
  if (res.status === 200 && body.topic && body.notAfter) return { state: 'present', topic: body.topic, notAfter: new Date(body.notAfter) };
  if (res.status === 404 && body.error === 'no push certificate configured') return { state: 'absent' };
  if (res.status === 401) return { state: 'not-checked', why: 'the admin token was refused (401)', fix: 'pass the gateway\'s admin token (DATA/admin-token or MDMGW_ADMIN_TOKEN)' };
  if (res.status === 404) return { state: 'not-checked', why: 'the Apple adapter is not enabled on this gateway', fix: 'none needed unless Apple devices enroll here' };
  return { state: 'not-checked', why: `the admin API answered HTTP ${res.status}`, fix: 'see the gateway log' };
}

export async function urlEvidence(url: URL, adminToken: string | undefined, now: Date, timeoutMs = PROBE_TIMEOUT_MS): Promise<Evidence> {
  const { base, scepPath } = scepTarget(url);
  const probe = await probeScep(base, scepPath, timeoutMs);
  const apns: ApnsEvidence = probe.unreachable ? { state: 'not-checked', why: 'the gateway is unreachable', fix: 'see the reachability check' } : await apnsFromAdminApi(base, adminToken, timeoutMs);
  return { mode: 'url', now, certificates: certificatesFromCaCert({ probe }, `GetCACert of ${probe.scepUrl}`), probe, apns };
}
