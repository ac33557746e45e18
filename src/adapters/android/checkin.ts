import type { AdapterServices, DeliveryReport, ReadyDelivery } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import type { AgentState } from './state.js';
import { sha256Hex } from './canonical.js';
import { canonicalEqual } from '../../core/canonical-json.js';
import { decideChallenge } from './challenge-reuse.js';
import { withIssuedValidity, type IssuedFacts } from './issued-certificates.js';
import { canonicalTextsV1, policyContentV1, policyDocumentV1, renderCertificatePolicy, type CertificatePolicyV1, type IdentityRenewalV1, type PolicyDocumentV1 } from './render.js';
import { policyAction } from './renewal.js';
import { currentCertificate, reissueAfterRevocation } from '../../core/renewal.js';
import { rolloverReissueDue } from '../../core/ca-rollover.js';
import type { IssuedCertificate } from '../../core/model.js';

// A check-in, without the I/O: from core's deliveries, the stored agent state
// and the certificates we issued to the device (renewal timing, spent
// challenges: issued-certificates.ts) to the document to serve, its ETag, and
// the state to store. The same inputs give the same document, so an agent
// that polls an unchanged policy gets a 304.

type Delivery = Awaited<ReturnType<AdapterServices['deliveriesFor']>>[number];

export interface CheckinResult {
  document: PolicyDocumentV1;
  etag: string;
  state: AgentState;
  /** Deliveries core could not prepare for this device (missing attribute, no primary user). */
  unavailable: { profileId: string; code: string; message: string }[];
  /** Delivery reports to record for the admin: newly unavailable profiles (once per profile version and code). */
  reports: DeliveryReport[];
}

/**
 * `identityRenewal`: set when the identity the agent authenticated with is inside its renewal period (identity-renewal.ts).
 * `currentCaId`: the CA that issues now (AdapterServices.currentCaId). After a
 * CA rollover the first document served carries the new root (trustedRoots
 * holds every root in use); a certificate of the retired CA is renewed from
 * the next fetch on, once the agent has had that document (core/ca-rollover.ts).
 */
export function checkin(
  device: Device,
  deliveries: Delivery[],
  before: AgentState,
  version: number,
  now: Date,
  issued: readonly (IssuedFacts & Partial<Pick<IssuedCertificate, 'issuerId'>>)[] = [],
  identityRenewal?: IdentityRenewalV1,
  currentCaId?: string,
  /** The other CAs that issue now (AdapterServices.activeCaIds): not retired. */
  activeCaIds?: ReadonlySet<string>,
): CheckinResult {
  const state: AgentState = structuredClone(before);
  const ready = deliveries.filter((d): d is ReadyDelivery => d.ok);
  const policies: CertificatePolicyV1[] = ready.map((d) => {
    const id = d.profile.id;
    // Timed from the issued certificate; the agent's own record (its certificate or an estimate) only without one.
    const installed = withIssuedValidity(state.installed[id], issued, id);
    // A revoked certificate (while the profile still applies) is replaced by a fresh enrollment.
    let action = installed && reissueAfterRevocation(issued, id, installed.thumbprint) ? 'enroll' : policyAction(d.profile, installed, now);
    if (action === 'keep' && currentCaId && installed) {
      const cert = currentCertificate(issued, id, installed.profileVersion, installed.thumbprint);
      if (rolloverReissueDue(cert && { issuerId: cert.issuerId ?? null }, currentCaId, before.rootsServed, activeCaIds)) action = 'renew';
    }
    state.served[id] = { profileVersion: d.profile.version, validityDays: d.resolved.validityDays };
    const scepUrl = stickyScepUrl(d, state.scepUrls[id]);
    state.scepUrls[id] = scepUrl;
    if (action === 'keep') {
      delete state.challenges[id];
      return renderCertificatePolicy(d, { action, scepUrl });
    }
    const decision = decideChallenge(d, state.challenges[id], installed, state.results[id]?.at, now, issued);
    const chosen = decision.reuse ? decision.stored : { ...decision.fresh, scepUrl };
    state.challenges[id] = chosen;
    return renderCertificatePolicy(d, { action, challenge: { value: chosen.challenge, expiresAt: new Date(chosen.expiresAt), scepUrl: chosen.scepUrl } });
  });
  // Challenges and URLs of profiles no longer delivered are dropped.
  const live = new Set(ready.map((d) => d.profile.id));
  for (const id of Object.keys(state.challenges)) if (!live.has(id)) delete state.challenges[id];
  for (const id of Object.keys(state.scepUrls)) if (!live.has(id)) delete state.scepUrls[id];

  // Every policy carries every root: once one is served, the agent has the current root.
  if (currentCaId && policies.length > 0) state.rootsServed = currentCaId;

  if (version !== 1) throw new Error(`policy schema version ${version} has no renderer`);
  const content = policyContentV1(device, policies, identityRenewal);
  // One canonical text per policy for both hashes: the content's (has it changed?) and the document's (the ETag).
  const texts = canonicalTextsV1(content);
  const contentHash = sha256Hex(texts.content);
  const key = String(version);
  const mark = state.documents[key];
  const generatedAt = mark && mark.contentHash === contentHash ? mark.generatedAt : now.toISOString();
  state.documents[key] = { contentHash, generatedAt };
  const document = policyDocumentV1(content, generatedAt);

  // The agent never hears of a profile core could not prepare, so the admin
  // would not either: report it failed on the device's behalf, once.
  const unavailable = deliveries.flatMap((d) => (d.ok ? [] : [{ profileId: d.profile.id, profileVersion: d.profile.version, code: d.error.code, message: d.error.message }]));
  const reports: DeliveryReport[] = [];
  for (const u of unavailable) {
    const seen = state.unavailable[u.profileId];
    if (seen && seen.code === u.code && seen.profileVersion === u.profileVersion) continue;
    state.unavailable[u.profileId] = { code: u.code, profileVersion: u.profileVersion };
    reports.push({ profileId: u.profileId, profileVersion: u.profileVersion, state: 'failed', errorCode: u.code, detail: `not delivered to the agent: ${u.message}` });
  }
  for (const id of Object.keys(state.unavailable)) if (!unavailable.some((u) => u.profileId === id)) delete state.unavailable[id];

  return {
    document,
    etag: `"${sha256Hex(texts.document(generatedAt))}"`,
    state,
    unavailable: unavailable.map(({ profileId, code, message }) => ({ profileId, code, message })),
    reports,
  };
}

/** The SCEP URL served before, while the profile still lists it; else the one core picked this time. */
export function stickyScepUrl(d: ReadyDelivery, previous: string | undefined): string {
  return previous !== undefined && d.profile.scepServerUrls.includes(previous) ? previous : d.scepUrl;
}

/** Whether the state changed enough to be written back (as their canonical JSON would differ, without writing it). */
export function stateChanged(a: AgentState, b: AgentState): boolean {
  return !canonicalEqual(a, b);
}
