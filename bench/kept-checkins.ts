// Kept check-ins and static answers alone (issue 13, branch checkin12): one
// gateway process (`mdmgw serve`, as bench/run.ts starts it), a user with 3
// assigned profiles, one Android agent and one Apple device with their 3
// certificates installed, then only the steady rows, each `--n` requests:
// Android policy fetch 200 and 304, Apple Idle (signed), GetCACaps,
// GetCACert, /healthz, and a bare Node `http` server (keep-alive, a fixed 200
// body) in its own process driven by the same client: Node's own HTTP floor
// in this harness. Gateway CPU ms per request from /proc, as bench/run.ts.
// Each row prints its window on the monotonic clock (µs, what V8's
// .cpuprofile timestamps use), so a BENCH_CPU_PROF profile can be read per row.
//
//   node --import tsx bench/kept-checkins.ts [--n 2000] [--rows android200,android304,idle,caps,cacert,healthz,bare]
import { spawn } from 'node:child_process';
import { freePort } from '../src/free-port.js';
import { AndroidAgentSim } from '../src/sim/android.js';
import { appleBenchSetup, benchUser, enrolledAppleDevice, idleRequest, installPushCertificate } from './lib/checkins.js';
import { getOk, runLoad, type LoadResult } from './lib/load.js';
import { apiOf, cpuMsOf, startGatewayProcess } from './lib/server-process.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const N = Number(arg('--n') ?? 2000);
const ROWS = (arg('--rows') ?? 'android200,android304,idle,caps,cacert,healthz,bare').split(',');
const CONCURRENCY = Number(arg('--c') ?? 4);
const SCEP = '/certsrv/mscep/mscep.dll';

const micros = () => Number(process.hrtime.bigint() / 1000n);

async function row(name: string, cpuMs: () => number, op: (i: number) => Promise<void>): Promise<void> {
  await runLoad({ n: Math.min(200, N), concurrency: CONCURRENCY, cpuMs, op }); // warm-up, not counted
  const from = micros();
  const r: LoadResult = await runLoad({ n: N, concurrency: CONCURRENCY, cpuMs, op });
  console.log(JSON.stringify({ row: name, cpuMsPerOp: r.cpuMsPerOp, perSecond: r.perSecond, errors: r.errors, firstError: r.firstError, window: [from, micros()] }));
}

/** A bare Node http server in its own process: keep-alive, 200 with a fixed 15-byte JSON body. */
async function bareServer(): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  // Exits on SIGTERM (so --cpu-prof writes its profile).
  const code = `process.on('SIGTERM',()=>process.exit(0));const b=Buffer.from('{"status":"ok"}');require('node:http').createServer((q,s)=>{s.writeHead(200,{'content-type':'application/json; charset=utf-8','content-length':b.length});s.end(b)}).listen(${port},'127.0.0.1',()=>console.log('up'))`;
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...prof, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => child.stdout!.once('data', r));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, stop: async () => void (child.kill('SIGTERM'), await exited) };
}

const { apns, env } = await appleBenchSetup();
const gw = await startGatewayProcess({ env: { MDMGW_CLIENT_CERT_HEADER: 'X-Client-Cert', MDMGW_LOG_LEVEL: 'info', ...env } });
try {
  const api = apiOf(gw);
  const user = await benchUser(api);
  if (ROWS.includes('android200') || ROWS.includes('android304')) {
    const agent = new AndroidAgentSim(gw.url);
    await agent.enroll((await api('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
    const first = await agent.fetchPolicy();
    if (!first.document) throw new Error(`first policy fetch: HTTP ${first.status} ${JSON.stringify(first.body)}`);
    await agent.applyPolicy(first.document);
    await agent.fetchPolicy();
    const fetchAs = (status: number, conditional: boolean) => async () => {
      const f = await agent.fetchPolicy({ conditional });
      if (f.status !== status) throw new Error(`policy fetch: HTTP ${f.status}`);
    };
    // One agent at CONCURRENCY: a kept answer is read without the device lock.
    if (ROWS.includes('android200')) await row('android policy fetch 200', gw.cpuMs, fetchAs(200, false));
    if (ROWS.includes('android304')) await row('android policy fetch 304', gw.cpuMs, fetchAs(304, true));
  }
  if (ROWS.includes('idle')) {
    await installPushCertificate(api, apns);
    const sim = await enrolledAppleDevice(gw.url, api, user.id, apns);
    await sim.drain();
    await sim.drain();
    await row('apple Idle (signed)', gw.cpuMs, await idleRequest(sim));
  }
  // The static rows in the order --rows gives them (the first row measured after a phase pays for its warm-up).
  const statics: Record<string, [string, string]> = { caps: ['GetCACaps', `${SCEP}?operation=GetCACaps`], cacert: ['GetCACert', `${SCEP}?operation=GetCACert`], healthz: ['/healthz', '/healthz'] };
  for (const name of ROWS) {
    const s = statics[name];
    if (s) await row(s[0], gw.cpuMs, async () => void (await getOk(`${gw.url}${s[1]}`)));
  }
  if (ROWS.includes('bare')) {
    const bare = await bareServer();
    try {
      await row('bare node http (fixed 200)', () => cpuMsOf(bare.pid), async () => void (await getOk(`${bare.url}/healthz`)));
    } finally {
      await bare.stop();
    }
  }
} finally {
  await gw.stop();
  await apns.stop();
}
