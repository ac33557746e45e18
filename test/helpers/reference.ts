import { statSync } from 'node:fs';
import path from 'node:path';
import { describe } from 'vitest';

// Third-party reference material (Apple's published profile schemas, the notes
// restated from Microsoft's CSP pages) is not ours to ship, so it is not in the
// repository. Conformance checks against it read MDMGW_REFERENCE_DIR (only CI,
// which has the team's reference shelf, sets it) and, when it is not set, are skipped with one line
// saying what was not checked: a fresh clone still runs every other test.
// Our own test data (captured SCEP messages, golden files) is in test/.

export const REFERENCE_ENV = 'MDMGW_REFERENCE_DIR';

/** The reference directory, absolute; undefined when the variable is unset or empty. */
export function resolveReferenceDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = env[REFERENCE_ENV]?.trim();
  if (!raw) return undefined;
  const dir = path.resolve(raw);
  // Set but wrong is a mistake to report, not a reason to skip quietly.
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`${REFERENCE_ENV}=${raw} is not a directory: point it at the reference material, or unset it to skip the conformance checks`);
  }
  return dir;
}

export const REFERENCE_DIR = resolveReferenceDir();

/** A file of the reference material; only called from checks that describeWithReference skips without it. */
export function referencePath(...parts: string[]): string {
  if (!REFERENCE_DIR) throw new Error(`${REFERENCE_ENV} is not set: this check needs the reference material`);
  return path.join(REFERENCE_DIR, ...parts);
}

/**
 * describe() for checks against the reference material: runs them when
 * MDMGW_REFERENCE_DIR is set, otherwise registers them as skipped and prints
 * one line naming what was not checked. The body is still called to collect
 * the tests, so it must read reference files inside tests or hooks only.
 */
export function describeWithReference(what: string, body: () => void): void {
  if (!REFERENCE_DIR) process.stderr.write(`not checked (${REFERENCE_ENV} unset): ${what}\n`);
  describe.skipIf(!REFERENCE_DIR)(what, body);
}
