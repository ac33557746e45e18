import type { CertificateIssuer } from '../../core/issuer.js';
import { IssuanceRefused } from '../../core/issuer.js';

// core's CertificateIssuer when upstream CAs are configured: the profile's
// `issuer` picks the upstream that issues its certificates; device identities
// and profiles that name none (or `default`) are issued by the built-in CA.
// (Branch pki's ca/registry.ts registryIssuer does the same for local CAs;
// upstreams register there as `{ kind: 'upstream', issuer }`.)

export const BUILT_IN_ISSUER = 'default';

export function upstreamRoutingIssuer(
  builtIn: CertificateIssuer,
  upstreams: ReadonlyMap<string, CertificateIssuer>,
  /** The `issuer` of that profile version, or null when it names none. */
  issuerOfProfile: (profileId: string, version: number | null) => Promise<string | null>,
): CertificateIssuer {
  return {
    issue: async (resolved, spki, context) => {
      const name = resolved.profileId ? await issuerOfProfile(resolved.profileId, resolved.profileVersion) : null;
      if (!name || name === BUILT_IN_ISSUER) return builtIn.issue(resolved, spki, context);
      const upstream = upstreams.get(name);
      // Profiles are checked against the configured names when saved; one removed from the file since is the operator's to fix.
      if (!upstream) throw new IssuanceRefused(name, 'unavailable', `profile ${resolved.profileId} names CA "${name}", which is not configured (MDMGW_UPSTREAM_CAS)`);
      return upstream.issue(resolved, spki, context);
    },
  };
}
