// Same-run before/after pairs for the enrollment CPU (issue 13): two gateways
// at once, this tree's and another tree's (a copy of main at the commit a
// branch started from), loaded in alternating rounds (A B, B A, ...) with the
// same prebuilt request mix, and the floor measured once per round. On a
// shared machine a single run of each moves by 1–2 ms; rounds that alternate
// within a minute see the same load, so their per-round differences and the
// mean ratio are what to read.
//
//   node --import tsx bench/enrollment-ab.ts --base /tmp/base [--rounds 4] [--n 100] [--c 8] [--ca-key rsa2048]
//
// The other tree needs its own node_modules (a symlink to this one's is fine).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/free-port.js';
import { measureFloor } from './lib/floor.js';
import { deviceKeys, enrollmentLoad, prebuild, recipientOf } from './lib/scep-load.js';
import { apiOf, cpuMsOf } from './lib/server-process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const value = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const BASE = value('--base');
if (!BASE) throw new Error('--base DIR: the other tree (with node_modules)');
const ROUNDS = Number(value('--rounds') ?? 4);
const N = Number(value('--n') ?? 100);
const C = Number(value('--c') ?? 8);
const CA_KEY = value('--ca-key');

interface Side {
  name: string;
  url: string;
  pid: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** `mdmgw serve` from `root` (its own src/cli.ts), as bench/lib/server-process.ts starts this tree's. */
async function start(name: string, root: string): Promise<Side & { adminToken: string }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `mdmgw-ab-${name}-`));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/${name}`] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', path.join(root, 'src/cli.ts'), 'serve', '-p', String(port), '-d', dataDir], {
    cwd: root,
    env: { ...process.env, MDMGW_PUBLIC_URL: url, MDMGW_LOG_LEVEL: 'info', ...(CA_KEY && { MDMGW_CA_KEY: CA_KEY }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const on = (d: Buffer) => {
      seen += d.toString();
      if (/mdm-gateway listening/.test(seen)) resolve();
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${seen.slice(-2000)}`)));
  });
  child.stdout!.resume();
  child.stderr!.resume();
  const adminToken = (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
  return {
    name,
    url,
    pid: child.pid!,
    dataDir,
    adminToken,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function main() {
  const sides = [await start('base', path.resolve(BASE!)), await start('branch', ROOT)];
  try {
    const keys = await deviceKeys(8);
    const prepared = [];
    for (const s of sides) {
      const api = apiOf(s);
      const device = await api('POST', '/devices', { name: 'bench-device', platform: 'windows' });
      const profile = await api('POST', '/profiles', { name: 'bench', scope: 'device', subjectName: 'CN={{DeviceName}},O=Bench' });
      await api('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
      const scepUrl = `${s.url}/certsrv/mscep/mscep.dll`;
      const recipient = await recipientOf(scepUrl);
      const build = (n: number) => prebuild({ n, recipient, keys, subject: 'CN=bench-device, O=Bench', challenge: async () => (await api('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string });
      // Every round's requests are built before the first timed round (minting challenges costs the server CPU).
      const rounds = [];
      for (let r = 0; r < ROUNDS; r++) rounds.push(await build(N));
      await enrollmentLoad(scepUrl, recipient, await build(20), 2, () => cpuMsOf(s.pid)); // JIT, caches
      prepared.push({ side: s, scepUrl, recipient, rounds });
    }
    const caPem = await readFile(path.join(sides[1]!.dataDir, 'ca.pem'), 'utf8');
    const results: Record<string, number[]> = { base: [], branch: [], floor: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? prepared : [...prepared].reverse();
      for (const p of order) {
        const res = await enrollmentLoad(p.scepUrl, p.recipient, p.rounds[r]!, C, () => cpuMsOf(p.side.pid));
        if (res.failed > 0) throw new Error(`${p.side.name}: ${res.failed} enrollments failed`);
        results[p.side.name]!.push(res.cpuMsPerOp);
      }
      results.floor!.push(measureFloor(caPem, 100).totalMs);
      console.log(`round ${r + 1}: base ${results.base!.at(-1)}  branch ${results.branch!.at(-1)}  floor ${results.floor!.at(-1)}`);
    }
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const [b, a, f] = [mean(results.base!), mean(results.branch!), mean(results.floor!)];
    console.log(`mean of ${ROUNDS} rounds of ${N} at c=${C}${CA_KEY ? ` (${CA_KEY})` : ''}: base ${b.toFixed(2)} ms, branch ${a.toFixed(2)} ms, floor ${f.toFixed(2)} ms; base/floor ${(b / f).toFixed(2)}, branch/floor ${(a / f).toFixed(2)}, branch/base ${(a / b).toFixed(3)}`);
  } finally {
    for (const s of sides) await s.stop();
  }
}

await main();
