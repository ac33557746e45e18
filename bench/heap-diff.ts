// `node --import tsx bench/heap-diff.ts EARLY.heapsnapshot LATE.heapsnapshot`:
// what grew between two V8 heap snapshots of the gateway (taken with
// BENCH_HEAPSNAPSHOT_DIR and `kill -USR2`, see bench/lib/server-process.ts),
// as count and self size per node type and constructor/name, largest growth
// first. Enough to tell a leak (one kind of object piling up) from caches
// filling to their bound.
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

function summarize(file: string): Map<string, { count: number; size: number }> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = [fields.indexOf('type'), fields.indexOf('name'), fields.indexOf('self_size')];
  const types = s.snapshot.meta.node_types[0];
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + typeAt]!]!;
    // Strings and code are grouped by type only (their "name" is their content).
    const name = type === 'object' || type === 'closure' || type === 'native' ? s.strings[s.nodes[i + nameAt]!]!.slice(0, 60) : '';
    const key = `${type}${name ? ` ${name}` : ''}`;
    const e = out.get(key) ?? { count: 0, size: 0 };
    e.count++;
    e.size += s.nodes[i + sizeAt]!;
    out.set(key, e);
  }
  return out;
}

const [early, late] = process.argv.slice(2);
if (!early || !late) {
  console.error('usage: heap-diff.ts EARLY.heapsnapshot LATE.heapsnapshot');
  process.exit(2);
}
const a = summarize(early);
const b = summarize(late);
const total = (m: Map<string, { size: number }>) => [...m.values()].reduce((n, e) => n + e.size, 0);
console.log(`total self size: ${(total(a) / 1048576).toFixed(1)} -> ${(total(b) / 1048576).toFixed(1)} MiB`);
const rows = [...new Set([...a.keys(), ...b.keys()])].map((k) => {
  const x = a.get(k) ?? { count: 0, size: 0 };
  const y = b.get(k) ?? { count: 0, size: 0 };
  return { k, dCount: y.count - x.count, dSize: y.size - x.size, count: y.count, size: y.size };
});
rows.sort((p, q) => q.dSize - p.dSize);
for (const r of rows.slice(0, 30)) console.log(`${(r.dSize / 1024).toFixed(0).padStart(8)} KiB  ${String(r.dCount).padStart(8)} objects  (now ${r.count}, ${(r.size / 1024).toFixed(0)} KiB)  ${r.k}`);
