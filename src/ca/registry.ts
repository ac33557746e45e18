import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CertificateIssuer } from '../core/issuer.js';
import { softwareKey } from '../x509/software-key.js';
import { LruCache } from '../x509/lru-cache.js';
import { toPem } from '../pem.js';
import { CertificateAuthority, type AuthorityOptions } from './authority.js';
import { awaitingImport, awaitingImportMessage, CA_NAME, DEFAULT_CA_NAME, loadCaChain, NAMED_CAS_DIR } from './ca-setup.js';
import { builtInIssuer } from './issuer.js';
import { CA_CERT_FILE, CA_KEY_FILE, CaKeyFileError, loadPair } from './key-files.js';

// The CAs a profile can name as its `issuer` (issue 12, "several CAs"): the
// top-level CA of the data directory is `default`; every cas/<name>/ holds
// another local CA (its own key, certificate and chain, `mdmgw ca init
// --name`). An entry can also be an issuer that is not a CA of ours (an
// upstream SCEP/EST CA: no key here), registered by whoever builds it.
//
// Each entry knows what devices must trust for what it issues (`trustedRoot`)
// and the chain GetCACert hands out for it (`chain`: the CA certificate, then
// its intermediates, then the root; just the CA for a self-signed root).

interface CaEntryBase {
  name: string;
  /** The issuing CA's certificate first, then intermediates nearest first, then the root (not repeated for a self-signed CA). */
  chain: readonly Uint8Array[];
  /** The self-signed root devices must trust for certificates of this entry. */
  trustedRoot: Uint8Array;
}

export type CaEntry = (CaEntryBase & { kind: 'local'; authority: CertificateAuthority }) | (CaEntryBase & { kind: 'upstream'; issuer: CertificateIssuer });

export class CaRegistryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaRegistryError';
  }
}

export class CaRegistry {
  private readonly entries = new Map<string, CaEntry>();
  private readonly issuers = new Map<string, CertificateIssuer>();

  constructor(defaultEntry: CaEntry) {
    if (defaultEntry.name !== DEFAULT_CA_NAME) throw new CaRegistryError(`the default CA must be named "${DEFAULT_CA_NAME}"`);
    this.register(defaultEntry);
  }

  register(entry: CaEntry): void {
    if (!CA_NAME.test(entry.name)) throw new CaRegistryError(`CA name "${entry.name}": use 1 to 32 lower-case letters, digits and '-'`);
    if (this.entries.has(entry.name)) throw new CaRegistryError(`a CA named "${entry.name}" is registered already`);
    this.entries.set(entry.name, entry);
    this.issuers.set(entry.name, entry.kind === 'local' ? builtInIssuer(entry.authority) : entry.issuer);
  }

  /**
   * Registers an upstream CA with the chain it published, or replaces its
   * entry when the chain changed (ca/upstream/chain-keeper.ts refreshes it).
   * Never replaces a local CA.
   */
  setUpstream(entry: CaEntry & { kind: 'upstream' }): void {
    const known = this.entries.get(entry.name);
    if (known?.kind === 'local') throw new CaRegistryError(`"${entry.name}" is a local CA; an upstream CA cannot take its name`);
    if (!known && !CA_NAME.test(entry.name)) throw new CaRegistryError(`CA name "${entry.name}": use 1 to 32 lower-case letters, digits and '-'`);
    this.entries.set(entry.name, entry);
    this.issuers.set(entry.name, entry.issuer);
  }

  get(name: string): CaEntry | undefined {
    return this.entries.get(name);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Every name, `default` first. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  /** The local CAs other than `default` (their CRLs and OCSP answers are served like the default CA's). */
  namedAuthorities(): CertificateAuthority[] {
    return [...this.entries.values()].flatMap((e) => (e.kind === 'local' && e.name !== DEFAULT_CA_NAME ? [e.authority] : []));
  }

  /**
   * GetCACert's CA certificates for its message parameter (RFC 8894 4.2.1:
   * an optional CA identifier): the named CA's chain; none given, the
   * default's. Some clients always send an identifier of their own
   * (certmonger's -i, "0" by default; iOS sends the SCEP payload's Name): on
   * a gateway with only the default CA any identifier means it, as before
   * there were several (upstream CAs do not count: their names are
   * configured, and a registered chain must not change what "0" means). With
   * several local CAs an unknown name is null (404).
   */
  chainForGetCaCert(name: string | null): readonly Uint8Array[] | null {
    const entry = name === null ? this.entries.get(DEFAULT_CA_NAME) : this.entries.get(name);
    if (entry) return entry.chain;
    const locals = [...this.entries.values()].filter((e) => e.kind === 'local').length;
    return locals === 1 ? this.entries.get(DEFAULT_CA_NAME)!.chain : null;
  }

  issuerFor(name: string): CertificateIssuer | undefined {
    return this.issuers.get(name);
  }
}

/**
 * What a device needs between its certificate and the root: for a
 * subordinate CA the CA itself and the intermediates above it, nearest
 * first; nothing for a CA that is its own root.
 */
export function intermediatesOf(entry: Pick<CaEntry, 'chain'>): readonly Uint8Array[] {
  return entry.chain.length > 1 ? entry.chain.slice(0, -1) : [];
}

/** The CA a profile names as its issuer; `default` when it names none. */
export function issuerNameOf(profile: { issuer?: string | null }): string {
  return profile.issuer ?? DEFAULT_CA_NAME;
}

/** What a device must trust for a profile's certificates; `missing` instead when it is not known yet (an upstream whose chain was never fetched). */
export type ProfileTrust = { caName: string; rootPem: string; intermediatesPem: string; scepUrl?: string; missing?: string };

/**
 * What a device needs to trust for a profile's certificates: the root of the
 * profile's CA (`defaultRootsPem` for the default CA: its root plus the
 * retired ones during a rollover) and its intermediates. An upstream CA is in
 * the registry once its chain is known; before that `upstreamMissing` says
 * why (the answer has `missing`, and core/delivery.ts holds the delivery
 * rather than send it with another CA's root). Null for a name neither has
 * (profiles are validated when saved).
 */
export function trustForProfile(
  registry: CaRegistry,
  defaultRootsPem: string,
  scepUrlOf?: (caName: string) => string,
  upstreamMissing?: (caName: string) => string | null,
): (profile: { issuer?: string | null }) => ProfileTrust | null {
  return (profile) => {
    const caName = issuerNameOf(profile);
    const entry = registry.get(caName);
    const missing = entry ? null : upstreamMissing?.(caName);
    if (missing) return { caName, rootPem: '', intermediatesPem: '', missing, ...(scepUrlOf && { scepUrl: scepUrlOf(caName) }) };
    if (!entry) return null;
    return {
      caName,
      rootPem: caName === DEFAULT_CA_NAME ? defaultRootsPem : toPem(entry.trustedRoot),
      intermediatesPem: intermediatesOf(entry).map((der) => toPem(der)).join(''),
      // The default CA keeps the gateway's SCEP URL; another CA gets its own (GetCACert there returns its chain).
      ...(caName !== DEFAULT_CA_NAME && scepUrlOf && { scepUrl: scepUrlOf(caName) }),
    };
  };
}

/** A local CA's registry entry from its certificate and the chain above it. */
export function localEntry(name: string, authority: CertificateAuthority, chain: { intermediates: readonly Uint8Array[]; root: Uint8Array }): CaEntry {
  const selfSigned = Buffer.from(chain.root).equals(Buffer.from(authority.certificate));
  return {
    name,
    kind: 'local',
    authority,
    chain: selfSigned ? [authority.certificate] : [authority.certificate, ...chain.intermediates, chain.root],
    trustedRoot: chain.root,
  };
}

/**
 * The local CAs under cas/<name>/ (none when the directory is absent). A CA
 * still waiting for its certificate, or with a key that does not fit, stops
 * the start with the reason.
 */
export async function loadNamedCas(dataDir: string, opts: AuthorityOptions & { passphrase?: string }): Promise<CaEntry[]> {
  let names: string[];
  try {
    names = (await readdir(join(dataDir, NAMED_CAS_DIR), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const entries: CaEntry[] = [];
  for (const name of names.sort()) {
    const dir = join(dataDir, NAMED_CAS_DIR, name);
    if (!CA_NAME.test(name) || name === DEFAULT_CA_NAME) throw new CaKeyFileError(`${dir}: "${name}" is not a usable CA name (lower-case letters, digits and '-', not "default")`);
    if (await awaitingImport(dir)) throw new CaKeyFileError(awaitingImportMessage(dir, name));
    const pair = await loadPair(join(dir, CA_KEY_FILE), join(dir, CA_CERT_FILE), opts.passphrase || undefined);
    const authority = new CertificateAuthority({ certificate: pair.certificate, key: softwareKey(pair.key) }, opts);
    entries.push(localEntry(name, authority, await loadCaChain(dir, pair.certificate)));
  }
  return entries;
}

/** Profile versions whose issuer registryIssuer remembers. */
export const ISSUER_CACHE_ENTRIES = 1024;

/**
 * core's CertificateIssuer for the whole registry: the profile's `issuer`
 * picks the CA (`issuerOfProfile` reads it); device identities and profiles
 * that name none are issued by `default`.
 */
export function registryIssuer(registry: CaRegistry, issuerOfProfile: (profileId: string, version: number | null) => Promise<string | null>): CertificateIssuer {
  // A profile version is never changed once written (an edit adds a version),
  // so its issuer is read once, not on every enrollment (issue 13). Without a
  // version (the current one) it is read every time.
  const byVersion = new LruCache<string, string | null>(ISSUER_CACHE_ENTRIES);
  const issuerOf = async (profileId: string, version: number | null): Promise<string | null> => {
    if (version === null) return issuerOfProfile(profileId, null);
    const key = `${profileId}@${version}`;
    const known = byVersion.get(key);
    if (known !== undefined) return known;
    const name = await issuerOfProfile(profileId, version);
    byVersion.set(key, name);
    return name;
  };
  return {
    issue: async (resolved, spki, context) => {
      const name = (resolved.profileId && (await issuerOf(resolved.profileId, resolved.profileVersion))) || DEFAULT_CA_NAME;
      const issuer = registry.issuerFor(name);
      // Profiles are validated against the registry when saved; a CA removed from the data directory since is an operator error.
      if (!issuer) throw new CaRegistryError(`profile ${resolved.profileId} names CA "${name}", which this gateway does not have (cas/${name}/ missing?)`);
      return issuer.issue(resolved, spki, context);
    },
  };
}
