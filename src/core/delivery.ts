import type { KeyObject } from 'node:crypto';
import { assignedProfiles } from './assignments.js';
import { mintChallenge } from './challenge/token.js';
import type { Device, Profile, ResolvedRequest, Target, User } from './model.js';
import { requestSha256, resolveRequest } from './profile/resolve.js';
import type { DirectoryStore, ProfileStore, AssignmentStore } from './storage/storage.js';

// What a device gets at check-in: for every profile that applies to it, the
// resolved request and a freshly minted challenge, plus where to enroll and
// which root to trust. A profile that cannot be resolved for this device (a
// missing attribute, no primary user for a user-scope profile) is an error
// entry for that profile only; the others are still delivered.

export interface DeliveryDeps {
  storage: DirectoryStore & ProfileStore & AssignmentStore;
  /** The Ed25519 challenge-signing private key. */
  challengeKey: KeyObject;
  ttlSeconds: number;
  /** Used when a profile lists no SCEP server URLs. */
  gatewayScepUrl: string;
  /** Trusted root for profiles that name none. */
  caCertificatePem: string;
  /**
   * The root (PEM) and intermediates (PEM, nearest the root last; may be
   * empty) of the CA a profile names as its issuer (ca/registry.ts); without
   * it, or when it answers null, caCertificatePem and no intermediates.
   * `missing`: the CA's root is not known yet (an upstream CA whose chain was
   * never fetched): the delivery is held (ISSUER_CHAIN_UNKNOWN) unless the
   * profile names its trustedRootCertificate.
   */
  trustFor?: (profile: Profile) => { caName: string; rootPem: string; intermediatesPem: string; scepUrl?: string; missing?: string } | null;
  /** Called once per challenge actually minted (metrics): a delivery mints when its challenge is first read. */
  onMint?: () => void;
  /** [0, 1); Math.random by default. Picks among a profile's SCEP URLs. */
  random?: () => number;
  now?: () => Date;
}

export type DeliveryErrorCode = 'ATTRIBUTE_MISSING' | 'NO_PRIMARY_USER' | 'USER_DISABLED' | 'ISSUER_CHAIN_UNKNOWN';

export type Delivery =
  | {
      profile: Profile;
      ok: true;
      resolved: ResolvedRequest;
      /** The challengePassword, minted when first read. Secret: log challengeFingerprint() of it, never the value. */
      challenge: string;
      challengeExpiresAt: Date;
      scepUrl: string;
      trustedRootPem: string;
      /**
       * SHA-256 of the resolved request's canonical JSON, hex (resolve.ts requestSha256), computed once per delivery:
       * the challenge's request digest is its first 16 bytes, and adapters fingerprint the request with it.
       * Optional for deliveries made elsewhere (tests): requestSha256(resolved) is the same value.
       */
      requestSha256?: string;
      /** Intermediate CA certificates (PEM) between the issuing CA and the root, for platforms that install them ('' when none). */
      intermediatesPem?: string;
      /** The registry name of the CA that issues this profile (GetCACert's message for it); absent: the default CA. */
      caName?: string;
    }
  | { profile: Profile; ok: false; error: { code: DeliveryErrorCode; message: string } };

/**
 * `assigned`: the device's assigned profiles when the caller already read them
 * (assignedProfiles) for this check-in, so they are not read twice.
 */
export async function prepareDeliveries(deps: DeliveryDeps, device: Device, only?: { profileIds: readonly string[] }, assigned?: Profile[]): Promise<Delivery[]> {
  // A challenge nobody will render is one more secret in memory: mint only what is asked for.
  const profiles = (assigned ?? (await assignedProfiles(deps.storage, device))).filter((p) => !only || only.profileIds.includes(p.id));
  const primaryUser = device.userId ? await deps.storage.getUser(device.userId) : null;
  return profiles.map((profile) => prepareOne(deps, device, primaryUser, profile));
}

function prepareOne(deps: DeliveryDeps, device: Device, primaryUser: User | null, profile: Profile): Delivery {
  let target: Target;
  if (profile.scope === 'user') {
    if (!primaryUser) {
      return {
        profile,
        ok: false,
        error: { code: 'NO_PRIMARY_USER', message: `profile "${profile.name}" is user-scoped and device ${device.id} has no primary user` },
      };
    }
    if (!primaryUser.enabled) {
      return { profile, ok: false, error: { code: 'USER_DISABLED', message: `profile "${profile.name}" is user-scoped and user ${primaryUser.id} is disabled` } };
    }
    target = { kind: 'user', userId: primaryUser.id, deviceId: device.id };
  } else {
    target = { kind: 'device', deviceId: device.id };
  }
  // A payload without the root its certificate chains to would enroll a certificate nothing on the device trusts
  // (and another CA's root would be wrong): hold it, with the reason, until the upstream's chain is known.
  const trust = deps.trustFor?.(profile) ?? null;
  if (trust?.missing && profile.trustedRootCertificate === null) {
    return { profile, ok: false, error: { code: 'ISSUER_CHAIN_UNKNOWN', message: `profile "${profile.name}" is held: ${trust.missing} (see GET /api/v1/health; or set the profile's trustedRootCertificate)` } };
  }
  const r = resolveRequest(profile, target, { user: primaryUser, device });
  if (!r.ok) {
    return {
      profile,
      ok: false,
      error: {
        code: 'ATTRIBUTE_MISSING',
        message: r.error.invalid
          ? `profile "${profile.name}": {{${r.error.variable}}} in ${r.error.field} ${r.error.invalid} for device ${device.id}`
          : r.error.reportedConflict
          ? `profile "${profile.name}": {{${r.error.variable}}} in ${r.error.field} has no value for device ${device.id}: the value the device reported is also another device's (set the device's ${r.error.variable === 'DeviceName' ? 'name' : 'serialNumber'} in the admin API)`
          : `profile "${profile.name}": {{${r.error.variable}}} in ${r.error.field} has no value for device ${device.id}`,
      },
    };
  }
  // Minted when first read, not here: a check-in with nothing to install (the profile is on the
  // device already) renders no challenge, and an Ed25519 signature per assigned profile per
  // message was a large share of it (issue 13). The time is taken now, as if minted now.
  const at = deps.now?.() ?? new Date();
  // The request's canonical JSON and hash, once: the challenge binds it and the adapter fingerprints it (issue 13).
  let digest: Buffer | undefined;
  const sha256 = () => (digest ??= requestSha256(r.resolved));
  let minted: ReturnType<typeof mintChallenge> | undefined;
  const mint = () => {
    if (!minted) {
      minted = mintChallenge(deps.challengeKey, { kind: 'profile', resolved: r.resolved, ttlSeconds: deps.ttlSeconds, now: at, requestSha256: sha256() });
      deps.onMint?.();
    }
    return minted;
  };
  return {
    profile,
    ok: true,
    resolved: r.resolved,
    get requestSha256() {
      return sha256().toString('hex');
    },
    get challenge() {
      return mint().token;
    },
    get challengeExpiresAt() {
      return mint().expiresAt;
    },
    // A profile of another CA of ours enrolls at that CA's SCEP URL: clients that check the CA (Windows CAThumbprint, Android caFingerprint) fetch its chain there.
    scepUrl: pickUrl(profile.scepServerUrls, deps.trustFor?.(profile)?.scepUrl ?? deps.gatewayScepUrl, deps.random ?? Math.random),
    // The admin's explicit trustedRootCertificate wins (the profile enrolls elsewhere); else the root of the profile's CA.
    ...trustOf(deps, profile),
  };
}

function trustOf(deps: DeliveryDeps, profile: Profile): { trustedRootPem: string; intermediatesPem: string; caName?: string } {
  const trust = deps.trustFor?.(profile) ?? null;
  const caName = trust ? { caName: trust.caName } : {};
  if (profile.trustedRootCertificate !== null) return { trustedRootPem: profile.trustedRootCertificate, intermediatesPem: '', ...caName };
  return trust ? { trustedRootPem: trust.rootPem, intermediatesPem: trust.intermediatesPem, ...caName } : { trustedRootPem: deps.caCertificatePem, intermediatesPem: '' };
}

function pickUrl(urls: readonly string[], fallback: string, random: () => number): string {
  if (urls.length === 0) return fallback;
  const i = Math.min(urls.length - 1, Math.max(0, Math.floor(random() * urls.length)));
  return urls[i]!;
}

