import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// The layering of src/, checked by scanning import specifiers (static,
// re-exports and dynamic import()). Comments are stripped first so a path
// named in prose does not count.

const SRC = path.resolve(import.meta.dirname, '../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"]+)\1/g;

function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(SPECIFIER)].map((m) => m[2]!);
}

interface Violation { file: string; specifier: string }

/** Imports of files under `folder` that resolve to a src/ path for which `allowed` says no. */
function violations(folder: string, allowed: (target: string) => boolean): Violation[] {
  const out: Violation[] = [];
  for (const file of sourceFiles(path.join(SRC, folder))) {
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      if (!specifier.startsWith('.')) continue; // node: built-ins and npm packages
      const target = path.relative(SRC, path.resolve(path.dirname(file), specifier)).split(path.sep).join('/');
      if (!allowed(target)) out.push({ file: path.relative(SRC, file), specifier });
    }
  }
  return out;
}

const under = (target: string, ...folders: string[]) => folders.some((f) => target.startsWith(`${f}/`));

describe('architecture', () => {
  it('finds the imports it checks (the scan itself works)', () => {
    expect(importsOf("import a from './a.js';\nexport { b } from \"../b.js\";\n// import z from './no.js'\nconst c = await import('./c.js');\nimport './d.js';"))
      .toEqual(['./a.js', '../b.js', './c.js', './d.js']);
    expect(violations('scep/codec', () => false).length).toBeGreaterThan(0);
  });

  it('the SCEP codec imports only itself, src/x509 and packages', () => {
    expect(violations('scep/codec', (t) => under(t, 'scep/codec', 'x509'))).toEqual([]);
  });

  it('core imports nothing from scep, ca, http or adapters', () => {
    expect(violations('core', (t) => !under(t, 'scep', 'ca', 'http', 'adapters'))).toEqual([]);
  });

  it('x509 and ca import nothing from scep, http or adapters, and x509 nothing from ca', () => {
    expect(violations('x509', (t) => !under(t, 'scep', 'ca', 'http', 'adapters'))).toEqual([]);
    expect(violations('ca', (t) => !under(t, 'scep', 'http', 'adapters'))).toEqual([]);
  });

  // These core modules import nothing but each other: the codec reaches core
  // only through them (x509/asn1/limits.ts reads SCEP_LIMITS), never a service.
  const CORE_VOCABULARY = ['core/model.js', 'core/rdn-types.js', 'core/input-limits.js', 'core/csr-info.js', 'core/issuer.js'];

  it('x509 and ca use only core vocabulary (types, limits), none of its services', () => {
    const vocabularyOnly = (t: string) => !under(t, 'core') || CORE_VOCABULARY.includes(t);
    expect(violations('x509', vocabularyOnly)).toEqual([]);
    expect(violations('ca', vocabularyOnly)).toEqual([]);
    for (const m of CORE_VOCABULARY) {
      const file = path.join(SRC, m.replace(/\.js$/, '.ts'));
      const outside = importsOf(readFileSync(file, 'utf8')).filter((s) => s.startsWith('.') && !CORE_VOCABULARY.includes(`core/${s.replace(/^\.\//, '')}`));
      expect(outside, m).toEqual([]);
    }
  });

  it('only src/core/storage/ talks to the database through kysely', () => {
    const users = sourceFiles(SRC)
      .filter((file) => importsOf(readFileSync(file, 'utf8')).some((s) => s === 'kysely' || s.startsWith('kysely/')))
      .map((file) => path.relative(SRC, file).split(path.sep).join('/'));
    expect(users.length).toBeGreaterThan(0);
    expect(users.filter((f) => !f.startsWith('core/storage/'))).toEqual([]);
  });
});
