import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHECKS } from '../../../src/core/crp/index.js';
import { CRP_DOC, renderRow, rewriteCrpDoc } from '../../../scripts/crp-doc.js';

// docs/crp.md's check tables are generated from the CRP table and each check's
// declared reason codes (scripts/crp-doc.ts): the document cannot drift from the code.

describe('docs/crp.md', () => {
  it('has the check tables the code produces', () => {
    const doc = readFileSync(CRP_DOC, 'utf8');
    const fresh = rewriteCrpDoc(doc);
    expect(doc === fresh, 'docs/crp.md differs from src/core/crp (the CHECKS table, a check\'s summary or refuses): run `npm run docs:crp`').toBe(true);
  });

  it('lists every row, every check in order, with its declared reason codes', () => {
    const doc = readFileSync(CRP_DOC, 'utf8');
    for (const [row, checks] of Object.entries(CHECKS)) {
      const table = renderRow(row as keyof typeof CHECKS);
      expect(doc, row).toContain(table);
      checks.forEach((check, i) => {
        const line = table.split('\n')[i + 2]!;
        expect(line).toContain(`| ${i + 1} | \`${check.name}\` |`);
        for (const code of check.refuses) expect(line).toContain(`\`${code}\``);
      });
    }
  });

  it('notices a table that no longer matches (the comparison can fail)', () => {
    const doc = readFileSync(CRP_DOC, 'utf8');
    const stale = doc.replace('`CHALLENGE_EXPIRED` | badTime', '`CHALLENGE_EXPIRED` | badRequest');
    expect(stale).not.toBe(doc);
    expect(rewriteCrpDoc(stale)).toBe(doc);
    expect(() => rewriteCrpDoc('# no markers\n')).toThrow(/npm run docs:crp|marker/);
  });
});
