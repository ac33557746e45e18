import type { CertificateIssuer } from '../../core/issuer.js';

// core's CertificateIssuer when upstream CAs are configured: the profile's
// `issuer` picks the upstream that issues its certificates; device identities
// and profiles that name none, `default` or another local CA are issued by the
// local CAs (ca/registry.ts registryIssuer).
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
      const upstream = name && name !== BUILT_IN_ISSUER ? upstreams.get(name) : undefined;
      // Not an upstream: the local CAs (the registry's issuer) answer, and refuse a name they do not have either.
      if (!upstream) return builtIn.issue(resolved, spki, context);
      return upstream.issue(resolved, spki, context);
    },
  };
}
