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
