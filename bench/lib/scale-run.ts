// `npm run bench -- --scale`: the plain run's gateway measurements twice, on
// an empty store and on a seeded one (bench/lib/scale.ts), side by side with
// the ratio, plus the admin API's paged lists and the CRL at that size and the
// gateway's peak RSS. The target (issue 13): every figure within 20%.
//
// Both gateways run at once (the idle one costs nothing), so after the first
// measurement the enrollment series is repeated alternately, ABBA (scaled,
// plain, plain, scaled, ...): a neighbour's burst on the shared cores lands on
// both stores alike, and the spread of the per-round ratios says how far one
// window can be trusted.
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
  /** The enrollment series of the alternating rounds after the first measurement. */
  rounds?: Record<number, EnrollmentLoadResult>[];
}

export interface ScaleResults {
  seed: SeedResult;
  plain: GatewayFigures;
  scaled: GatewayFigures;
}

// Admission at 128 enrollments in flight, not the default 32: at c=64 the default answers some of the
// bench's requests 503 (cheap), which made a round's CPU per request meaningless (first --scale runs, issue 13).
const ENV = { MDMGW_CLIENT_CERT_HEADER: 'X-Client-Cert', MDMGW_LOG_LEVEL: 'info', MDMGW_MAX_ENROLLMENTS_IN_FLIGHT: '128' };
const SEED_PROFILES = 8;

export function apiFor(gw: { url: string; adminToken: string }): Api {
  return async (method, p, body) => {
    const r = await fetch(`${gw.url}/api/v1${p}`, { method, headers: { authorization: `Bearer ${gw.adminToken}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (r.status >= 300) throw new Error(`${method} ${p}: HTTP ${r.status} ${text.slice(0, 200)}`);
    return text ? JSON.parse(text) : null;
  };
}

/** Walks GET /devices to its last page at `limit`: the number of devices and the cursor that starts the last page. */
async function walkDevices(gw: Gateway, limit: number): Promise<{ devices: number; lastCursor: string | null }> {
  const auth = { authorization: `Bearer ${gw.adminToken}` };
  let devices = 0;
  let cursor: string | null = null;
  let lastCursor: string | null = null;
  for (;;) {
    const r = await fetch(`${gw.url}/api/v1/devices?limit=${limit}${cursor ? `&after=${cursor}` : ''}`, { headers: auth });
    if (r.status !== 200) throw new Error(`GET /devices: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
    devices += ((await r.json()) as unknown[]).length;
    const next = r.headers.get('x-next-cursor');
    if (!next) return { devices, lastCursor };
    lastCursor = cursor = next;
  }
}

/** The admin API's paged lists and the CRL: the reads that grow with the store. */
async function adminProbes(gw: Gateway, quick: boolean): Promise<Record<string, LoadResult>> {
  const auth = { authorization: `Bearer ${gw.adminToken}` };
  const caId = caIdOf(await readFile(path.join(gw.dataDir, 'ca.pem'), 'utf8'));
  const n = quick ? 20 : 50;
  // The deepest page of GET /devices?limit=100 (the last one): its cursor seeks the index, whatever the depth.
  const walk = await walkDevices(gw, 100);
  console.error(`GET /devices: ${walk.devices} devices in pages of 100`);
  const probes: [string, string][] = [
    ['GET /certificates?limit=100', '/api/v1/certificates?limit=100'],
    ['GET /certificates?status=revoked&limit=100', '/api/v1/certificates?status=revoked&limit=100'],
    ['GET /certificates?expiringWithinDays=30&limit=100', '/api/v1/certificates?expiringWithinDays=30&limit=100'],
    ['GET /users?limit=100', '/api/v1/users?limit=100'],
    ['GET /users?q=user4242 (prefix, indexed)', '/api/v1/users?q=user4242&limit=100'],
    ['GET /users?contains=user4242 (substring, walks)', '/api/v1/users?contains=user4242&limit=100'],
    ['GET /groups?limit=100', '/api/v1/groups?limit=100'],
    ['GET /assignments?limit=100', '/api/v1/assignments?limit=100'],
    ['GET /audit?limit=200', '/api/v1/audit?limit=200'],
    ['GET /enrollments?limit=100', '/api/v1/enrollments?limit=100'],
    ['GET /devices?limit=100 (first page)', '/api/v1/devices?limit=100'],
    ['GET /devices?limit=100 (last page, deep cursor)', `/api/v1/devices?limit=100${walk.lastCursor ? `&after=${walk.lastCursor}` : ''}`],
    [`GET CRL`, `/pki/crl/${caId}.crl`],
  ];
  const out: Record<string, LoadResult> = {};
  for (const [name, p] of probes) {
    await getOk(gw.url + p, 200, auth); // first one builds caches (the CRL) outside the window
    out[name] = await runLoad({ n, concurrency: 1, cpuMs: gw.cpuMs, op: async () => void (await getOk(gw.url + p, 200, auth)) });
  }
  // What listing every device costs now: the whole walk, pages of 1,000 (it was one 1.4 s answer at 100,000).
  out['GET /devices, every page at limit=1000 (ms per walk)'] = await runLoad({ n: 1, concurrency: 1, cpuMs: gw.cpuMs, op: async () => void (await walkDevices(gw, 1000)) });
  return out;
}

/** The store the scaled gateway runs on: made by the gateway (schema, CA, profiles through the API), stopped, seeded. */
async function seededStore(dataDir: string, counts: typeof FULL_SCALE): Promise<SeedResult> {
  const gw = await startGatewayProcess({ dataDir, env: ENV });
  try {
    const api = apiFor(gw);
    for (let i = 0; i < SEED_PROFILES; i++) await api('POST', '/profiles', { name: `scale ${i}`, scope: i % 2 ? 'user' : 'device', subjectName: `CN={{DeviceName}},OU=S${i},O=Scale` });
  } finally {
    await gw.stop();
  }
  const seed = seedScale(dataDir, counts, (m) => console.error(m));
  console.error(`seeded in ${seed.seconds} s, ${seed.fileMiB} MiB: ${JSON.stringify(seed.counts)}`);
  return seed;
}

export interface ScaleRunOptions {
  quick: boolean;
  seed?: string | undefined;
  /** Alternating enrollment rounds after the first measurement of each gateway (ABBA order). */
  rounds: number;
  measure: (gw: Gateway, api: Api) => Promise<GatewayFigures>;
  enrollments: (gw: Gateway, api: Api, label: string) => Promise<Record<number, EnrollmentLoadResult>>;
}

export async function scaleRun(o: ScaleRunOptions): Promise<ScaleResults> {
  if (o.seed !== undefined && o.seed !== 'full' && o.seed !== 'tenth') throw new Error(`--seed must be full or tenth, got ${o.seed}`);
  const counts = (o.seed ?? (o.quick ? 'tenth' : 'full')) === 'full' ? FULL_SCALE : QUICK_SCALE;
  const dataDir = await mkdtemp(path.join(tmpdir(), 'mdmgw-scale-'));
  const started: Gateway[] = [];
  try {
    const seed = await seededStore(dataDir, counts);
    const plainGw = await startGatewayProcess({ env: ENV });
    started.push(plainGw);
    const scaledGw = await startGatewayProcess({ dataDir, env: ENV });
    started.push(scaledGw);
    const plain = await o.measure(plainGw, apiFor(plainGw));
    const scaled = await o.measure(scaledGw, apiFor(scaledGw));
    plain.rounds = [];
    scaled.rounds = [];
    for (let r = 0; r < o.rounds; r++) {
      // ABBA: the first measurement was plain then scaled, so the next round starts with scaled.
      const order: [Gateway, GatewayFigures, string][] = r % 2 === 0 ? [[scaledGw, scaled, 'scaled'], [plainGw, plain, 'plain']] : [[plainGw, plain, 'plain'], [scaledGw, scaled, 'scaled']];
      for (const [gw, figures, label] of order) figures.rounds!.push(await o.enrollments(gw, apiFor(gw), `${label} round ${r + 2}`));
    }
    for (const [gw, figures] of [[plainGw, plain], [scaledGw, scaled]] as const) {
      figures.rssBeforeAdminMiB = gw.rssMiB();
      figures.admin = await adminProbes(gw, o.quick);
      figures.rssMiB = gw.rssMiB();
    }
    return { seed, plain, scaled };
  } finally {
    for (const gw of started) await gw.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Per concurrency: the ratio of every round (the first measurement and the alternating ones), their mean and spread. */
export function enrollmentRatios(s: ScaleResults): Record<number, { ratios: number[]; plain: number[]; scaled: number[]; meanRatio: number }> {
  const out: Record<number, { ratios: number[]; plain: number[]; scaled: number[]; meanRatio: number }> = {};
  const plainRounds = [s.plain.enrollment, ...(s.plain.rounds ?? [])];
  const scaledRounds = [s.scaled.enrollment, ...(s.scaled.rounds ?? [])];
  for (const c of Object.keys(s.plain.enrollment).map(Number)) {
    const plain = plainRounds.map((r) => r[c]!.cpuMsPerOp);
    const scaled = scaledRounds.map((r) => r[c]!.cpuMsPerOp);
    const ratios = plain.map((p, i) => Number((scaled[i]! / p).toFixed(2)));
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    out[c] = { ratios, plain, scaled, meanRatio: Number((mean(scaled) / mean(plain)).toFixed(2)) };
  }
  return out;
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
  for (const [c, r] of Object.entries(enrollmentRatios(s))) {
    const n = s.plain.enrollment[Number(c)]!.operations;
    rows.push([`enrollment c=${c}, ${r.ratios.length} rounds of ${n}, mean`, r.plain.map(String).join(' '), r.scaled.map(String).join(' '), String(r.meanRatio), `ratios ${r.ratios.join(' ')}`, `spread ${Math.min(...r.ratios)}–${Math.max(...r.ratios)}`, '']);
  }
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
