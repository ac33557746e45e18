// `npm run bench -- --scale`: the plain run's gateway measurements twice, on
// an empty store and on a seeded one (bench/lib/scale.ts), side by side with
// the ratio, plus the admin API's paged lists and the CRL at that size and the
// gateway's peak RSS. The target (issue 13): every figure within 20%.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CheckinResults } from './checkins.js';
import { getOk, runLoad, type LoadResult } from './load.js';
import { caIdOf, FULL_SCALE, QUICK_SCALE, seedScale, type SeedResult } from './scale.js';
import type { EnrollmentLoadResult } from './scep-load.js';
import { startGatewayProcess, type ServerProcess } from './server-process.js';

type Gateway = ServerProcess & { adminToken: string };
type Api = (method: string, path: string, body?: unknown) => Promise<any>;

export interface GatewayFigures {
  staticAnswers: Record<string, LoadResult>;
  enrollment: Record<number, EnrollmentLoadResult>;
  checkins: CheckinResults;
  rssMiB: { now: number; peak: number };
  /** RSS after the device paths, before the admin probes (GET /devices materializes every device). */
  rssBeforeAdminMiB?: { now: number; peak: number };
  admin?: Record<string, LoadResult>;
}

export interface ScaleResults {
  seed: SeedResult;
  plain: GatewayFigures;
  scaled: GatewayFigures;
}

const ENV = { MDMGW_CLIENT_CERT_HEADER: 'X-Client-Cert', MDMGW_LOG_LEVEL: 'info' };
const SEED_PROFILES = 8;

export function apiFor(gw: { url: string; adminToken: string }): Api {
  return async (method, p, body) => {
    const r = await fetch(`${gw.url}/api/v1${p}`, { method, headers: { authorization: `Bearer ${gw.adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (r.status >= 300) throw new Error(`${method} ${p}: HTTP ${r.status} ${text.slice(0, 200)}`);
    return text ? JSON.parse(text) : null;
  };
}

/** The admin API's paged lists and the CRL: the reads that grow with the store. */
async function adminProbes(gw: Gateway, quick: boolean): Promise<Record<string, LoadResult>> {
  const auth = { authorization: `Bearer ${gw.adminToken}` };
  const caId = caIdOf(await readFile(path.join(gw.dataDir, 'ca.pem'), 'utf8'));
  const n = quick ? 20 : 50;
  const probes: [string, string][] = [
    ['GET /certificates?limit=100', '/api/v1/certificates?limit=100'],
    ['GET /certificates?status=revoked&limit=100', '/api/v1/certificates?status=revoked&limit=100'],
    ['GET /certificates?expiringWithinDays=30&limit=100', '/api/v1/certificates?expiringWithinDays=30&limit=100'],
    ['GET /users?limit=100', '/api/v1/users?limit=100'],
    ['GET /users?q=user4242', '/api/v1/users?q=user4242&limit=100'],
    ['GET /audit?limit=200', '/api/v1/audit?limit=200'],
    ['GET /enrollments?limit=100', '/api/v1/enrollments?limit=100'],
    [`GET CRL`, `/pki/crl/${caId}.crl`],
  ];
  const out: Record<string, LoadResult> = {};
  for (const [name, p] of probes) {
    await getOk(gw.url + p, 200, auth); // first one builds caches (the CRL) outside the window
    out[name] = await runLoad({ n, concurrency: 1, cpuMs: gw.cpuMs, op: async () => void (await getOk(gw.url + p, 200, auth)) });
  }
  // Not paged (every device in one answer): measured a few times only.
  out['GET /devices (all, not paged)'] = await runLoad({ n: 3, concurrency: 1, cpuMs: gw.cpuMs, op: async () => void (await getOk(`${gw.url}/api/v1/devices`, 200, auth)) });
  return out;
}

export async function scaleRun(o: { quick: boolean; seed?: string | undefined; measure: (gw: Gateway, api: Api) => Promise<GatewayFigures> }): Promise<ScaleResults> {
  if (o.seed !== undefined && o.seed !== 'full' && o.seed !== 'tenth') throw new Error(`--seed must be full or tenth, got ${o.seed}`);
  const counts = (o.seed ?? (o.quick ? 'tenth' : 'full')) === 'full' ? FULL_SCALE : QUICK_SCALE;
  // 1. The plain figures, on an empty store, in this run (the machine is shared: compare within a run).
  let gw = await startGatewayProcess({ env: ENV });
  let plain: GatewayFigures;
  try {
    plain = await o.measure(gw, apiFor(gw));
    plain.rssBeforeAdminMiB = gw.rssMiB();
    plain.admin = await adminProbes(gw, o.quick);
    plain.rssMiB = gw.rssMiB();
  } finally {
    await gw.stop();
  }
  // 2. A store made by the gateway (schema, CA, profiles through the API), stopped, seeded, started again.
  const dataDir = await mkdtemp(path.join(tmpdir(), 'mdmgw-scale-'));
  try {
    gw = await startGatewayProcess({ dataDir, env: ENV });
    try {
      const api = apiFor(gw);
      for (let i = 0; i < SEED_PROFILES; i++) await api('POST', '/profiles', { name: `scale ${i}`, scope: i % 2 ? 'user' : 'device', subjectName: `CN={{DeviceName}},OU=S${i},O=Scale` });
    } finally {
      await gw.stop();
    }
    const seed = seedScale(dataDir, counts, (m) => console.error(m));
    console.error(`seeded in ${seed.seconds} s, ${seed.fileMiB} MiB: ${JSON.stringify(seed.counts)}`);
    gw = await startGatewayProcess({ dataDir, env: ENV });
    let scaled: GatewayFigures;
    try {
      scaled = await o.measure(gw, apiFor(gw));
      scaled.rssBeforeAdminMiB = gw.rssMiB();
      scaled.admin = await adminProbes(gw, o.quick);
      scaled.rssMiB = gw.rssMiB();
    } finally {
      await gw.stop();
    }
    return { seed, plain, scaled };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Table rows: measure, plain CPU ms/op, scaled CPU ms/op, ratio. */
export function scaleRows(s: ScaleResults): string[][] {
  const rows: string[][] = [['at scale: CPU ms/op', 'plain', 'scaled', 'scaled/plain', 'p50 plain', 'p50 scaled', 'errors (scaled)']];
  const pair = (name: string, a: LoadResult | undefined, b: LoadResult | undefined) => {
    if (!a || !b) return;
    rows.push([name, String(a.cpuMsPerOp), String(b.cpuMsPerOp), (b.cpuMsPerOp / a.cpuMsPerOp).toFixed(2), String(a.latencyMs.p50), String(b.latencyMs.p50), String((b as { failed?: number }).failed ?? b.errors)]);
  };
  for (const k of Object.keys(s.plain.staticAnswers)) pair(k, s.plain.staticAnswers[k], s.scaled.staticAnswers[k]);
  for (const c of Object.keys(s.plain.enrollment)) pair(`enrollment c=${c}`, s.plain.enrollment[Number(c)], s.scaled.enrollment[Number(c)]);
  pair('android policy fetch (200)', s.plain.checkins.androidPolicy, s.scaled.checkins.androidPolicy);
  pair('android policy fetch (304)', s.plain.checkins.androidNotModified, s.scaled.checkins.androidNotModified);
  const ws = (c: CheckinResults) => ('error' in c.windowsSession ? undefined : c.windowsSession);
  pair('windows session, nothing to do', ws(s.plain.checkins), ws(s.scaled.checkins));
  for (const k of Object.keys(s.plain.admin ?? {})) pair(k, s.plain.admin![k], s.scaled.admin?.[k]);
  const mib = (r: { now: number; peak: number } | undefined) => (r ? `${Math.round(r.now)} / ${Math.round(r.peak)}` : '');
  rows.push(['gateway RSS now / peak MiB, before the admin probes', mib(s.plain.rssBeforeAdminMiB), mib(s.scaled.rssBeforeAdminMiB), '', '', '', '']);
  rows.push(['gateway RSS now / peak MiB, at the end', `${Math.round(s.plain.rssMiB.now)} / ${Math.round(s.plain.rssMiB.peak)}`, `${Math.round(s.scaled.rssMiB.now)} / ${Math.round(s.scaled.rssMiB.peak)}`, '', '', '', '']);
  rows.push(['seeded in s / file MiB', String(s.seed.seconds), String(s.seed.fileMiB), '', '', '', '']);
  for (const [k, v] of Object.entries(s.seed.counts)) rows.push([`  seeded ${k}`, '', String(v), '', '', '', '']);
  return rows;
}
