import { POLICY_SCHEMA_V1 } from './schema.js';

// Policy schema version negotiation. The agent names the version it speaks
// with `?schemaVersion=N` or an Accept media type parameter
// (`application/vnd.mdmgw.android-policy+json; schemaVersion=N`); at
// enrollment it lists every version it understands, and the gateway then
// serves the highest one both sides know. Without either, version 1: the
// version every agent ever shipped understands.

export const POLICY_MEDIA_TYPE = 'application/vnd.mdmgw.android-policy+json';

/** Every schema version this gateway serves, with its JSON Schema. Never drop one while agents may still ask for it. */
export const SCHEMAS: Readonly<Record<number, object>> = { 1: POLICY_SCHEMA_V1 };
export const SUPPORTED_VERSIONS: readonly number[] = Object.keys(SCHEMAS)
  .map(Number)
  .sort((a, b) => a - b);
export const BASELINE_VERSION = 1;

export type VersionChoice = { ok: true; version: number } | { ok: false; asked: string; supported: readonly number[] };

/** The version named by the query or the Accept header, if any (the query wins). */
export function requestedVersion(query: unknown, accept: string | undefined): string | null {
  if (typeof query === 'string' && query !== '') return query;
  if (!accept) return null;
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';').map((p) => p.trim());
    if (type?.toLowerCase() !== POLICY_MEDIA_TYPE) continue;
    for (const p of params) {
      const m = /^(?:schemaVersion|version)\s*=\s*"?([^"]*)"?$/i.exec(p);
      if (m) return m[1]!;
    }
  }
  return null;
}

/**
 * The version to serve: the one asked for (406 material if unknown), else the
 * highest the agent said it understands at enrollment, else the baseline.
 */
export function chooseVersion(asked: string | null, agentVersions: readonly number[] | undefined): VersionChoice {
  if (asked !== null) {
    const n = /^[1-9][0-9]{0,3}$/.test(asked) ? Number(asked) : NaN;
    return SUPPORTED_VERSIONS.includes(n) ? { ok: true, version: n } : { ok: false, asked, supported: SUPPORTED_VERSIONS };
  }
  const common = (agentVersions ?? []).filter((v) => SUPPORTED_VERSIONS.includes(v));
  return { ok: true, version: common.length > 0 ? Math.max(...common) : BASELINE_VERSION };
}
