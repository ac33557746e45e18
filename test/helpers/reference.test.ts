import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveReferenceDir } from './reference.js';

// MDMGW_REFERENCE_DIR: unset skips the conformance checks; set but wrong must
// fail loudly instead, or a CI typo would quietly check nothing.

describe('resolveReferenceDir', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mdmgw-ref-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is undefined when the variable is unset or blank', () => {
    expect(resolveReferenceDir({})).toBeUndefined();
    expect(resolveReferenceDir({ MDMGW_REFERENCE_DIR: '' })).toBeUndefined();
    expect(resolveReferenceDir({ MDMGW_REFERENCE_DIR: '  ' })).toBeUndefined();
  });

  it('resolves an existing directory to an absolute path', () => {
    expect(resolveReferenceDir({ MDMGW_REFERENCE_DIR: dir })).toBe(dir);
    expect(resolveReferenceDir({ MDMGW_REFERENCE_DIR: path.relative(process.cwd(), dir) })).toBe(dir);
  });

  it('refuses a path that is missing or not a directory, naming the variable', () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'x');
    for (const bad of [path.join(dir, 'missing'), file]) {
      expect(() => resolveReferenceDir({ MDMGW_REFERENCE_DIR: bad })).toThrow(/MDMGW_REFERENCE_DIR=.* is not a directory/);
    }
  });
});
