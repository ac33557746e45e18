import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix = 'mdmgw-ca-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Runs the real OpenSSL CLI; throws with its stderr on a non-zero exit. */
export function openssl(args: string[], opts: { cwd?: string; input?: Uint8Array | string } = {}): string {
  return execFileSync('openssl', args, {
    cwd: opts.cwd,
    input: opts.input,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export function opensslBuffer(args: string[], opts: { cwd?: string; input?: Uint8Array | string } = {}): Buffer {
  return execFileSync('openssl', args, { cwd: opts.cwd, input: opts.input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** The hex bytes printed on the line after `label` in `openssl x509 -text` output. */
export function textBlockAfter(text: string, label: string): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.includes(label));
  if (i < 0) throw new Error(`no "${label}" in openssl output`);
  return (lines[i + 1] ?? '').trim();
}

/** stdout + stderr of an openssl run, whatever its exit code (some commands report failures only in text). */
export function opensslOutput(args: string[], opts: { cwd?: string; input?: Uint8Array | string } = {}): string {
  const r = spawnSync('openssl', args, { cwd: opts.cwd, input: opts.input, encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}
