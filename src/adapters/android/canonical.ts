import { createHash } from 'node:crypto';
import { canonicalJson } from '../../core/canonical-json.js';

// Hashes over canonical JSON (core/canonical-json.ts): the policy document's ETag and
// the fingerprint of a resolved request a stored challenge was minted for.

export { canonicalJson };

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
