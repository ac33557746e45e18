import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHECKS, type Check, type CrpMessageType } from '../src/core/crp/index.js';
import { REASONS } from '../src/core/reasons.js';

// docs/crp.md's check tables, generated from the CRP table (src/core/crp/index.ts)
// and each check's declared reason codes, so the documentation cannot drift from
// what runs. `npm run docs:crp` rewrites each marked section of docs/crp.md;
// test/core/crp/docs.test.ts fails when the file differs from what this produces.

export const CRP_DOC = fileURLToPath(new URL('../docs/crp.md', import.meta.url));

const begin = (row: string) => `<!-- generated: crp ${row} (npm run docs:crp from src/core/crp; do not edit by hand) -->`;
const END = '<!-- end generated -->';

/** SCEP rows show the failInfo a device sees; IdentityReq refusals travel in the enrollment protocol's own error. */
const SHOWS_FAIL_INFO: Readonly<Record<CrpMessageType, boolean>> = { PKCSReq: true, RenewalReq: true, IdentityReq: false };

export function renderRow(row: CrpMessageType, checks: readonly Check[] = CHECKS[row]): string {
  const failInfo = SHOWS_FAIL_INFO[row];
  const lines = [
    failInfo ? '| # | check | passes when | refuses with | failInfo |' : '| # | check | passes when | refuses with |',
    failInfo ? '|---|---|---|---|---|' : '|---|---|---|---|',
  ];
  for (const [i, check] of checks.entries()) {
    const codes = check.refuses.length > 0 ? check.refuses.map((c) => `\`${c}\``).join(', ') : '(never refuses)';
    const cells = [String(i + 1), `\`${check.name}\``, check.summary.replace(/\|/g, '\\|'), codes];
    if (failInfo) cells.push([...new Set(check.refuses.map((c) => REASONS[c].failInfo))].join(' / ') || '');
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The document with every marked table replaced by the one the code produces. */
export function rewriteCrpDoc(doc: string): string {
  let out = doc;
  for (const row of Object.keys(CHECKS) as CrpMessageType[]) {
    const start = out.indexOf(begin(row));
    if (start < 0) throw new Error(`docs/crp.md has no marker for the ${row} row: add the line\n${begin(row)}\n${END}`);
    const end = out.indexOf(END, start);
    if (end < 0) throw new Error(`docs/crp.md: the ${row} section has no closing ${END}`);
    out = `${out.slice(0, start)}${begin(row)}\n${renderRow(row)}\n${out.slice(end)}`;
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const before = readFileSync(CRP_DOC, 'utf8');
  const after = rewriteCrpDoc(before);
  if (after === before) console.log('docs/crp.md is up to date');
  else {
    writeFileSync(CRP_DOC, after);
    console.log('docs/crp.md: check tables rewritten from src/core/crp');
  }
}
