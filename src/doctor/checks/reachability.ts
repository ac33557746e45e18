import type { Evidence } from '../evidence.js';
import { ok, problem, warning, type Finding } from '../finding.js';

// Can a device reach the SCEP endpoint at the URL we hand out, and over what?
// Node's fetch verifies TLS against the public roots as a device would, so a
// chain error here is one devices see too.

const TLS_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_|EPROTO)/;

/** Clients that refuse a plain-http management URL, with the source of each fact. */
const NEED_HTTPS = [
  // reference/apple/mdm/profiles/com.apple.mdm.yaml: ServerURL and CheckInURL "must begin with https://".
  'apple',
  // reference/windows/microsoft-docs/server-requirements-windows-mdm.md: "The server must support HTTPS", with a trusted root.
  'windows10',
  'windows81',
  // reference/android/notes.md: Intune requires an HTTPS SCEP URL for Android; http only for lab use.
  'android',
] as const;

export function checkReachability(ev: Evidence): Finding[] {
  const { probe } = ev;
  if (probe.unreachable) {
    const tls = TLS_CODES.test(probe.unreachable);
    if (tls) {
      return [problem(`TLS to ${probe.scepUrl} failed: ${probe.unreachable}`, 'serve a certificate for this host name from a CA devices trust, with its intermediate certificates (Apple and Windows need a trusted TLS chain); when devices are given your private root, run the doctor with NODE_EXTRA_CA_CERTS=root.pem')];
    }
    const fix =
      ev.mode === 'config'
        ? 'start the gateway (mdmgw serve), and set MDMGW_PUBLIC_URL to the URL devices reach it at; check DNS, the firewall and the reverse proxy'
        : 'check the URL, that the gateway runs (mdmgw serve) and that no firewall is in the way';
    return [problem(`${probe.scepUrl} is unreachable: ${probe.unreachable}`, fix)];
  }
  const out: Finding[] = [ok(`${probe.scepUrl} answers`)];
  if (probe.scepUrl.startsWith('http://')) {
    out.push(
      warning(
        'the SCEP/MDM URL is plain http: Apple, Windows and the Android agent need https with a trusted certificate (fine for a lab)',
        'put TLS in front (mdmgw serve --tls-cert/--tls-key, or a reverse proxy; docs/deployment.md) and set MDMGW_PUBLIC_URL to the https:// URL',
        NEED_HTTPS,
      ),
    );
  } else {
    // certnanny/sscep src/sscep.c: "illegal URL" unless the URL starts with http:// (https only through -p proxy).
    out.push(
      warning('sscep takes only http:// URLs and this one is https', 'also expose the SCEP path over plain http for sscep (SCEP encrypts and signs its messages itself), or use certmonger', ['sscep']),
    );
  }
  if (probe.healthz && probe.healthz.status !== 200) {
    out.push(warning(`GET /healthz answered HTTP ${probe.healthz.status}`, 'the gateway is not ready (see its log), or the URL leads to another server'));
  }
  return out;
}
