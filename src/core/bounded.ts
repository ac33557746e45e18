// Client-supplied values reach the audit log, log lines and stored state.
// Unbounded, one request could write megabytes (a 500 KB SOAP Username, a CSR
// with hundreds of long RDNs). `bounded` copies a value into JSON-safe form
// with every string, array, object and nesting level cut to a limit, and marks
// each cut where it happened, so a reader sees that (and how much) was dropped:
//   strings  "abc…(truncated, 512000 bytes)"       (the original UTF-8 size)
//   arrays   [..., "…(truncated, 90 more items)"]
//   objects  { ..., "…truncated": "12 more keys" }
//   nesting  "…(truncated, nested too deep)"
// `boundedRecord` also caps the whole record's JSON size.

export interface Bounds {
  /** Characters kept of a string (the marker comes on top). */
  string: number;
  /** Characters kept of an object key. */
  key: number;
  /** Items kept of an array. */
  items: number;
  /** Keys kept of an object. */
  keys: number;
  /** Nesting levels kept below the top-level object. */
  depth: number;
  /** UTF-8 bytes of the whole record's JSON (boundedRecord only). */
  bytes: number;
}

/** Audit details: one row stays below 8 KiB whatever a client sends. */
export const AUDIT_BOUNDS: Bounds = { string: 512, key: 64, items: 32, keys: 48, depth: 5, bytes: 8 * 1024 };

/** Pino log fields: a log line stays below 16 KiB. */
export const LOG_BOUNDS: Bounds = { string: 1024, key: 64, items: 32, keys: 64, depth: 5, bytes: 16 * 1024 };

/** The key an object gets when some of its keys were dropped. */
export const TRUNCATED_KEY = '…truncated';

export function truncateString(s: string, max: number): string {
  if (s.length <= max) return s;
  return `${s.slice(0, max)}…(truncated, ${Buffer.byteLength(s)} bytes)`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A JSON-safe copy of `v` within `b` (see the file comment). Non-plain objects other than Date and bytes become strings. */
export function bounded(v: unknown, b: Bounds, depth = 0): unknown {
  if (v === null || v === undefined) return v ?? null;
  if (typeof v === 'string') return truncateString(v, b.string);
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return truncateString(v.toString(), b.string);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (v instanceof Uint8Array) return `(${v.length} bytes)`;
  if (depth >= b.depth) return '…(truncated, nested too deep)';
  if (Array.isArray(v)) {
    const kept = v.slice(0, b.items).map((x) => bounded(x, b, depth + 1));
    if (v.length > b.items) kept.push(`…(truncated, ${v.length - b.items} more items)`);
    return kept;
  }
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    let n = 0;
    let dropped = 0;
    for (const k in v) {
      if (!Object.hasOwn(v, k) || v[k] === undefined) continue;
      if (n >= b.keys) {
        dropped++;
        continue;
      }
      out[truncateString(k, b.key)] = bounded(v[k], b, depth + 1);
      n++;
    }
    if (dropped) out[TRUNCATED_KEY] = `${dropped} more keys`;
    return out;
  }
  if (typeof v === 'function' || typeof v === 'symbol') return null;
  return truncateString(String(v), b.string);
}

/**
 * A record (audit details) within `b`, including its total JSON size: a record
 * still too big after the per-field cuts is replaced by a marker with its size
 * and the start of its JSON, flagged `truncated: true`.
 */
export function boundedRecord(record: Record<string, unknown>, b: Bounds = AUDIT_BOUNDS): Record<string, unknown> {
  const cut = bounded(record, b) as Record<string, unknown>;
  const json = JSON.stringify(cut);
  const size = Buffer.byteLength(json);
  if (size <= b.bytes) return cut;
  return { truncated: true, bytes: size, start: truncateString(json, Math.floor(b.bytes / 4)) };
}
