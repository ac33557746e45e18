import { z } from 'zod';
import { deviceFactsSchema } from './enrollment-request.js';

// What the Android adapter remembers per device (core keeps it as JSON under
// the adapter's name): the agent's facts, the schema versions it speaks, the
// challenge handed out per policy (so the same one is served until it is used
// or nearly expired), what the agent last said it installed, and when each
// document version's content last changed (generatedAt).

const storedChallenge = z.object({
  profileVersion: z.number().int(),
  /** SHA-256 of the canonical resolved request the challenge was minted for. */
  requestHash: z.string(),
  challenge: z.string(),
  scepUrl: z.string(),
  mintedAt: z.string(),
  expiresAt: z.string(),
});
export type StoredChallenge = z.output<typeof storedChallenge>;

const installedCertificate = z.object({
  profileVersion: z.number().int(),
  thumbprint: z.string(),
  alias: z.string(),
  reportedAt: z.string(),
  /**
   * From the certificate when the agent sent it, else estimated from the profile's validity.
   * Renewal prefers the certificate we issued (issued-certificates.ts); this is the fallback.
   */
  notBefore: z.string(),
  notAfter: z.string(),
});
export type InstalledCertificate = z.output<typeof installedCertificate>;

const documentMark = z.object({ contentHash: z.string(), generatedAt: z.string() });

export const agentStateSchema = z.object({
  facts: deviceFactsSchema.nullable().catch(null),
  enrolledAt: z.string().nullable().catch(null),
  factsUpdatedAt: z.string().nullable().catch(null),
  schemaVersions: z.array(z.number().int()).nullable().catch(null),
  challenges: z.record(z.string(), storedChallenge).catch({}),
  installed: z.record(z.string(), installedCertificate).catch({}),
  /** Per schema version (as a string key). */
  documents: z.record(z.string(), documentMark).catch({}),
  /** The SCEP URL served per policy: core picks one of a profile's URLs at random per delivery; the document must not flap. */
  scepUrls: z.record(z.string(), z.string()).catch({}),
  /** The last result the agent reported per policy (any state): a failed enrollment may have spent the challenge. */
  results: z.record(z.string(), z.object({ state: z.string(), profileVersion: z.number().int(), at: z.string() })).catch({}),
  /** Profiles core could not prepare for this device, as last reported to the admin (so it is reported once). */
  unavailable: z.record(z.string(), z.object({ code: z.string(), profileVersion: z.number().int() })).catch({}),
  /** Policies (by profile id) ever served to this device: status reports must name one. */
  served: z.record(z.string(), z.object({ profileVersion: z.number().int(), validityDays: z.number() })).catch({}),
  /** The CA (id) whose root, with every other root in use, a served document carried: re-issue after a CA rollover waits for it (core/ca-rollover.ts). */
  rootsServed: z.string().optional().catch(undefined),
});
export type AgentState = z.output<typeof agentStateSchema>;

export function emptyState(): AgentState {
  return { facts: null, enrolledAt: null, factsUpdatedAt: null, schemaVersions: null, challenges: {}, installed: {}, documents: {}, scepUrls: {}, results: {}, unavailable: {}, served: {} };
}

/** Parses stored state; a damaged section falls back to empty rather than failing check-ins. */
export function readAgentState(raw: Record<string, unknown> | null): AgentState {
  if (!raw) return emptyState();
  const r = agentStateSchema.safeParse({ ...emptyState(), ...raw });
  return r.success ? r.data : emptyState();
}
