// Canonical JSON: object keys sorted at every level, arrays in order,
// undefined members dropped. Equal data gives equal text, so hashes over it
// (a challenge's request digest, a policy document's ETag) are stable.
// Written as loops over sorted keys rather than entries/filter/sort/map/join:
// it runs for every resolved request and policy document a delivering
// check-in hashes (issue 13), and the text is the same as that version's
// (test/core/canonical-json.test.ts compares them on generated values).
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let s = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) s += ',';
      // A hole stays empty, as Array.prototype.map + join left it.
      if (i in value) s += canonicalJson(value[i]);
    }
    return `${s}]`;
  }
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  let s = '{';
  for (const k of keys) {
    const v = o[k];
    if (v === undefined) continue;
    if (s.length > 1) s += ',';
    s += `${JSON.stringify(k)}:${canonicalJson(v)}`;
  }
  return `${s}}`;
}

/**
 * canonicalJson(a) === canonicalJson(b), without writing either text: a
 * check-in compares the agent state it read with the one it would write
 * (issue 13). Same rules: key order and undefined members do not count.
 */
export function canonicalEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const aObject = a !== null && typeof a === 'object';
  const bObject = b !== null && typeof b === 'object';
  if (!aObject || !bObject) return !aObject && !bObject && (JSON.stringify(a) ?? 'null') === (JSON.stringify(b) ?? 'null');
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const y = b as unknown[];
    if (a.length !== y.length) return false;
    for (let i = 0; i < a.length; i++) {
      // A hole writes nothing, unlike undefined (null): holes must match.
      if (i in a !== i in y) return false;
      if (i in a && !canonicalEqual(a[i], y[i])) return false;
    }
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let defined = 0;
  for (const k of Object.keys(x)) {
    if (x[k] === undefined) continue;
    defined += 1;
    if (!Object.prototype.hasOwnProperty.call(y, k) || y[k] === undefined || !canonicalEqual(x[k], y[k])) return false;
  }
  for (const k of Object.keys(y)) if (y[k] !== undefined) defined -= 1;
  return defined === 0;
}
