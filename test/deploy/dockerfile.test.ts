import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, startTestGateway } from '../helpers/gateway.js';

// Operations issue #14, item 8: the Dockerfile, linted here because CI has no
// Docker daemon to build it. The checks are the ones that matter for this
// image: two stages, a non-root runtime user, the data directory as a volume
// owned by that user, a healthcheck on /readyz, exec-form commands (SIGTERM
// reaches node), no secret baked in, no local data directory in the build
// context. The healthcheck script itself runs against a real gateway.

const ROOT = path.resolve(import.meta.dirname, '../..');
const DOCKERFILE = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Instructions in order: comments dropped, backslash continuations joined, keywords upper-cased. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending: { text: string; line: number } | null = null;
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    if (pending === null && (trimmed === '' || trimmed.startsWith('#'))) return;
    if (pending !== null && trimmed.startsWith('#')) return; // comment lines inside a continuation
    const piece = trimmed.replace(/\\$/, '').trim();
    pending = pending === null ? { text: piece, line: i + 1 } : { text: `${pending.text} ${piece}`, line: pending.line };
    if (!trimmed.endsWith('\\')) {
      const m = /^(\S+)\s*(.*)$/.exec(pending.text)!;
      out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: pending.line });
      pending = null;
    }
  });
  return out;
}

interface Stage {
  from: string;
  name: string | null;
  instructions: Instruction[];
}

function stages(instructions: Instruction[]): { args: Record<string, string>; stages: Stage[] } {
  const args: Record<string, string> = {};
  const out: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      expect(m, `FROM on line ${ins.line}`).not.toBeNull();
      out.push({ from: m![1]!.replace(/\$\{(\w+)\}/g, (_, k: string) => args[k] ?? `\${${k}}`), name: m![2] ?? null, instructions: [] });
    } else if (out.length === 0) {
      if (ins.keyword === 'ARG') {
        const [k, v] = ins.args.split('=');
        args[k!] = v ?? '';
      }
    } else {
      out[out.length - 1]!.instructions.push(ins);
    }
  }
  return { args, stages: out };
}

/** `ENV A=1 B=2` (the key=value form, possibly continued over lines). */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    for (const m of ins.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  }
  return env;
}

const execForm = (args: string) => {
  const json = args.replace(/^(--\S+\s+)*CMD\s+/i, '');
  try {
    const v = JSON.parse(json) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
};

const instructions = parseDockerfile(DOCKERFILE);
const { args, stages: all } = stages(instructions);
const build = all.find((s) => s.name === 'build')!;
const runtime = all[all.length - 1]!;
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

describe('Dockerfile lint', () => {
  it('the parser joins continuations and drops comments (the lint itself works)', () => {
    const parsed = parseDockerfile('# c\nFROM a AS b\nRUN x \\\n  # inner\n  && y\nenv A=1 \\\n    B=2\n');
    expect(parsed).toEqual([
      { keyword: 'FROM', args: 'a AS b', line: 2 },
      { keyword: 'RUN', args: 'x && y', line: 3 },
      { keyword: 'ENV', args: 'A=1 B=2', line: 6 },
    ]);
  });

  it('is multi-stage: a build stage with the toolchain, a runtime stage copying only its output', () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
    expect(build).toBeDefined();
    expect(runtime.name).not.toBe('build');
    const fromBuild = of(runtime, 'COPY').filter((c) => c.args.includes('--from=build')).map((c) => c.args);
    expect(fromBuild.some((a) => /\/app\/dist\b/.test(a))).toBe(true);
    expect(fromBuild.some((a) => /\/app\/node_modules\b/.test(a))).toBe(true);
    // No compiler in the runtime image, no source tree either.
    expect(of(runtime, 'RUN').some((r) => /apt-get install|npm (ci|install)|g\+\+/.test(r.args))).toBe(false);
    expect(of(runtime, 'COPY').some((c) => /(^|\s)src(\s|\/|$)/.test(c.args) && !c.args.includes('--from'))).toBe(false);
  });

  it('pins a Node 20 base image (no latest, no untagged image) matching package.json engines', () => {
    const engines = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const [major, minor] = /(\d+)\.(\d+)/.exec(engines)!.slice(1).map(Number);
    for (const s of all) {
      const m = /^node:(\d+)\.(\d+)[\w.-]*$/.exec(s.from);
      expect(m, `base image ${s.from}`).not.toBeNull();
      expect(Number(m![1])).toBe(major);
      expect(Number(m![2])).toBeGreaterThanOrEqual(minor!);
    }
    expect(args.NODE_IMAGE).toBeDefined();
  });

  it('installs reproducibly (npm ci from the lockfile), drops dev dependencies, cleans apt lists', () => {
    const runs = of(build, 'RUN').map((r) => r.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm install\b/.test(r))).toBe(false);
    expect(runs.some((r) => /npm prune --omit=dev|npm ci --omit=dev/.test(r))).toBe(true);
    expect(of(build, 'COPY').some((c) => c.args.includes('package-lock.json'))).toBe(true);
    for (const r of runs.filter((x) => x.includes('apt-get install'))) {
      expect(r).toContain('--no-install-recommends');
      expect(r).toContain('rm -rf /var/lib/apt/lists/*');
    }
  });

  it('runs as a non-root user from before the entrypoint on', () => {
    const users = of(runtime, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const last = users[users.length - 1]!;
    expect(last.args).not.toMatch(/^(root|0)(:|$)/);
    const entry = of(runtime, 'ENTRYPOINT')[0]!;
    expect(last.line).toBeLessThan(entry.line);
    // Nothing after the switch runs as root again.
    expect(runtime.instructions.filter((i) => i.line > last.line && i.keyword === 'RUN')).toEqual([]);
  });

  it('keeps the data directory on a volume owned by that user, private, named by MDMGW_DATA_DIR', () => {
    const env = envOf(runtime);
    const volume = of(runtime, 'VOLUME').flatMap((v) => execForm(v.args) ?? v.args.split(/\s+/));
    expect(volume).toContain(env.MDMGW_DATA_DIR);
    const user = of(runtime, 'USER').at(-1)!.args;
    const prep = of(runtime, 'RUN').map((r) => r.args).join(' && ');
    expect(prep).toContain(`chown ${user}:${user} ${env.MDMGW_DATA_DIR}`);
    expect(prep).toContain(`chmod 0700 ${env.MDMGW_DATA_DIR}`);
    // The volume is declared after its ownership is set (a later change would not stick).
    expect(of(runtime, 'VOLUME')[0]!.line).toBeGreaterThan(of(runtime, 'RUN').at(-1)!.line);
  });

  it('listens on every interface of the container, on the port it exposes', () => {
    const env = envOf(runtime);
    expect(env.MDMGW_HOST).toBe('0.0.0.0');
    expect(of(runtime, 'EXPOSE').map((e) => e.args)).toContain(env.MDMGW_PORT);
  });

  it('checks health on /readyz with the shipped script, bounded in time', () => {
    const hc = of(runtime, 'HEALTHCHECK');
    expect(hc).toHaveLength(1);
    expect(hc[0]!.args).toMatch(/--interval=\d+s/);
    expect(hc[0]!.args).toMatch(/--timeout=\d+s/);
    const cmd = execForm(hc[0]!.args);
    expect(cmd, 'exec form').not.toBeNull();
    const script = cmd!.find((a) => a.endsWith('.mjs'))!;
    const copied = of(runtime, 'COPY').find((c) => c.args.trim().endsWith(script.replace('/app/', './')) || c.args.trim().endsWith(script));
    expect(copied, `COPY of ${script}`).toBeDefined();
    const source = copied!.args.split(/\s+/)[0]!;
    expect(readFileSync(path.join(ROOT, source), 'utf8')).toContain("'/readyz'");
  });

  it('starts in exec form so SIGTERM reaches node (graceful shutdown), running what the build produces', () => {
    const entry = execForm(of(runtime, 'ENTRYPOINT')[0]!.args);
    const cmd = execForm(of(runtime, 'CMD')[0]!.args);
    expect(entry).toEqual(['node', '/app/dist/cli.js']);
    expect(cmd).toEqual(['serve']);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: { mdmgw: string } };
    expect(`/app/${pkg.bin.mdmgw}`).toBe(entry![1]);
    const buildConfig = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { outDir: string } };
    expect(buildConfig.compilerOptions.outDir).toBe('dist');
  });

  it('bakes in no secret and fetches nothing remote with ADD', () => {
    const secret = /MDMGW_(ADMIN_TOKEN|CA_PASSPHRASE)|PASSWORD|SECRET/i;
    for (const i of instructions.filter((x) => x.keyword === 'ENV' || x.keyword === 'ARG')) expect(i.args, `line ${i.line}`).not.toMatch(secret);
    expect(instructions.filter((i) => i.keyword === 'ADD')).toEqual([]);
  });

  it('copies only files that exist, and the build context leaves out data/ and node_modules/', () => {
    for (const c of instructions.filter((i) => i.keyword === 'COPY' && !i.args.includes('--from'))) {
      const sources = c.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
      for (const s of sources) expect(existsSync(path.join(ROOT, s)), `${s} (line ${c.line})`).toBe(true);
    }
    const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    // A developer's ./data holds a CA key and an admin token: it must never land in an image layer.
    for (const must of ['data/', 'node_modules/', '.git/']) expect(ignored).toContain(must);
  });
});

describe('the container healthcheck script', () => {
  const run = (env: Record<string, string>) =>
    new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'scripts/docker-healthcheck.mjs')], {
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: 'ignore',
      });
      child.on('exit', (code) => resolve(code));
    });

  it('exits 0 against a ready gateway, 1 when it is not ready or not there', async () => {
    const t = await startTestGateway();
    const port = new URL(t.url).port;
    try {
      expect(await run({ MDMGW_PORT: port, MDMGW_HOST: '0.0.0.0' })).toBe(0);
      t.gw.health.markClosing();
      expect(await run({ MDMGW_PORT: port })).toBe(1);
    } finally {
      await t.stop();
    }
    expect(await run({ MDMGW_PORT: String(await freePort()) })).toBe(1);
  });
});
