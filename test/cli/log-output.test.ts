import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LOG_FLUSH_MS } from '../../src/log.js';

// stdout is buffered (src/log.ts: one write for many lines, issue 13): a line
// logged while the gateway is otherwise idle must still show within a moment,
// and the lines logged just before exit must not be lost.

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOG = path.join(ROOT, 'src/log.ts');

/** Runs `script` (with `createLogger` in scope) and reports each stdout line with the ms since start. */
function run(script: string): Promise<{ at: number; line: string }[]> {
  const code = `import { createLogger } from ${JSON.stringify(LOG)};\n${script}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const started = Date.now();
  const lines: { at: number; line: string }[] = [];
  let rest = '';
  child.stdout.on('data', (d: Buffer) => {
    const parts = (rest + d.toString()).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) lines.push({ at: Date.now() - started, line });
  });
  return new Promise((resolve) => child.once('close', () => resolve(lines)));
}

describe('log lines on stdout', () => {
  it('shows a lone line within the flush interval, long before the process ends', async () => {
    const lines = await run(`const log = createLogger('info'); const t0 = Date.now(); setTimeout(() => log.info({ mark: 'idle' }, 'one line'), 300); setTimeout(() => {}, 3000);`);
    const line = lines.find((l) => l.line.includes('"mark":"idle"'));
    expect(line).toBeDefined();
    // Logged at ~300 ms after the child started its script; the process lives to ~3 s.
    expect(line!.at).toBeLessThan(2500);
    expect(LOG_FLUSH_MS).toBeLessThanOrEqual(1000);
  }, 20_000);

  it('writes the lines logged right before exit', async () => {
    const lines = await run(`const log = createLogger('info'); for (let i = 0; i < 50; i++) log.info({ i }, 'burst'); log.info({ mark: 'last' }, 'bye'); process.exit(0);`);
    expect(lines.filter((l) => l.line.includes('"msg":"burst"'))).toHaveLength(50);
    expect(lines.at(-1)?.line).toContain('"mark":"last"');
  }, 20_000);
});
