import { createHash } from 'node:crypto';

// Canonical JSON (object keys sorted at every level, arrays in order, undefined
// members dropped) and the hashes built on it: the policy document's ETag and
// the fingerprint of a resolved request a stored challenge was minted for.

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A strong entity tag for a JSON document: the SHA-256 of its canonical form, quoted. */
export function strongEtag(doc: unknown): string {
  return `"${sha256Hex(canonicalJson(doc))}"`;
}

/**
 * RFC 9110 If-None-Match: `*` or a list of entity tags. A GET compares weakly,
 * so `W/"x"` matches `"x"`.
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === bare);
}
