import type { CertificateAuthority } from './authority.js';

// Every CA this gateway has run. The current one issues; after a rollover the
// retired ones keep publishing revocation status (CRL, OCSP) for what they
// issued until their last certificate expires. Revocation publication and the
// SCEP CA chain read CAs through this, never a single "the CA".

export interface Authorities {
  /** The CA that issues new certificates. */
  readonly current: CertificateAuthority;
  /** Current first, then retired CAs, newest first. */
  readonly all: readonly CertificateAuthority[];
  /** By CertificateAuthority.id (lower-case hex subject key identifier). */
  byId(id: string): CertificateAuthority | undefined;
}

/** A gateway with one CA (no rollover has happened). */
export function singleAuthority(ca: CertificateAuthority): Authorities {
  return authoritiesOf([ca]);
}

/** `cas[0]` is the current CA; the rest are retired, newest first. */
export function authoritiesOf(cas: readonly CertificateAuthority[]): Authorities {
  if (cas.length === 0) throw new RangeError('a gateway needs at least one CA');
  const byId = new Map(cas.map((ca) => [ca.id, ca]));
  return { current: cas[0]!, all: [...cas], byId: (id) => byId.get(id.toLowerCase()) };
}
